"""What `rubricforge serve` runs: the Streamlit app (app.py) plus the routes that
set and clear the HttpOnly session cookie (session_routes.py).

    streamlit run webapp/server.py    # Streamlit finds `app` below and serves it
"""

from __future__ import annotations

import streamlit as st
from rubricforge.webapp.preload import preload_in_background
from rubricforge.webapp.session_routes import ROUTES

app = st.App("app.py", routes=ROUTES)
preload_in_background()  # the pages' imports, before their first visitor needs them
