"""Sign in with a username and password, or with single sign-on when configured."""

from __future__ import annotations

from rubricforge.webapp.login_form import show_login

show_login()
