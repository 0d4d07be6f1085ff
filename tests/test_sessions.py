"""Sign-in sessions: signed, expiring, revocable tokens (models.accounts.sessions)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rubricforge.models.accounts.auth import add_user, disable_user, set_password
from rubricforge.models.accounts.permissions import OPERATOR, UserInfo
from rubricforge.models.accounts.sessions import (
    HANDOFF_SECONDS,
    SESSION_LIFETIME,
    begin_session,
    claim_handoff,
    make_token,
    parse_token,
    pending_session_user,
    revoke_session,
    session_id_of,
    session_user,
    signing_key,
)
from rubricforge.models.core.errors import InvalidInputError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

pytestmark = pytest.mark.db
KEY = b"test-signing-key"
PW = "correct horse battery"


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def alice(session: Session) -> UserInfo:
    user = add_user(session, "alice", "expert", PW, actor=OPERATOR)
    session.commit()
    return user


def signed_in(session: Session, user: UserInfo) -> str:
    """The cookie token of a fresh session of `user`."""
    _, code = begin_session(session, int(user.id))
    token, _ = claim_handoff(session, KEY, code)
    session.commit()
    return token


def test_token_gives_its_user_until_it_expires(session: Session, alice: UserInfo) -> None:
    token = signed_in(session, alice)
    assert session_user(session, KEY, token) == alice
    later = datetime.now(UTC) + SESSION_LIFETIME + timedelta(seconds=1)
    assert session_user(session, KEY, token, now=later) is None


def test_tampered_or_forged_tokens_are_refused(session: Session, alice: UserInfo) -> None:
    token = signed_in(session, alice)
    session_id, _, secret, mac = token.split(".")
    far = int((datetime.now(UTC) + timedelta(days=999)).timestamp())
    tampered = [
        f"{session_id}.{far}.{secret}.{mac}",  # a later expiry
        f"{int(session_id) + 1}.{token.split('.', 1)[1]}",  # another session's id
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # the signature
        "",
        "garbage",
        "x" * 10_000,
        "1.2.é.ü",  # not ASCII
    ]
    for bad in tampered:
        assert session_user(session, KEY, bad) is None, bad
    assert session_user(session, b"another key", token) is None
    # A correctly signed token with a guessed secret does not match the stored hash.
    expires = datetime.now(UTC) + timedelta(days=1)
    forged = make_token(KEY, int(session_id), expires, "guessed-secret")
    assert parse_token(KEY, forged) is not None
    assert session_user(session, KEY, forged) is None


def test_sign_out_revokes_the_token(session: Session, alice: UserInfo) -> None:
    token = signed_in(session, alice)
    other = signed_in(session, alice)
    session_id = session_id_of(KEY, token)
    assert session_id is not None
    revoke_session(session, session_id)
    session.commit()
    assert session_user(session, KEY, token) is None
    assert pending_session_user(session, session_id) is None
    assert session_user(session, KEY, other) == alice, "only that session ends"


def test_disabling_or_a_new_password_ends_every_session(session: Session, alice: UserInfo) -> None:
    token = signed_in(session, alice)
    set_password(session, "alice", "a brand new passphrase", actor=OPERATOR)
    session.commit()
    assert session_user(session, KEY, token) is None

    token = signed_in(session, alice)
    disable_user(session, "alice", actor=OPERATOR)
    session.commit()
    assert session_user(session, KEY, token) is None


def test_handoff_code_works_once_and_briefly(session: Session, alice: UserInfo) -> None:
    _, code = begin_session(session, int(alice.id))
    session.commit()
    claim_handoff(session, KEY, code)
    session.commit()
    with pytest.raises(InvalidInputError, match="expired or was already used"):
        claim_handoff(session, KEY, code)
    session.rollback()

    _, code = begin_session(session, int(alice.id))
    session.commit()
    late = datetime.now(UTC) + timedelta(seconds=HANDOFF_SECONDS + 5)
    with pytest.raises(InvalidInputError, match="expired or was already used"):
        claim_handoff(session, KEY, code, now=late)
    session.rollback()
    with pytest.raises(InvalidInputError, match="expired or was already used"):
        claim_handoff(session, KEY, "not-a-code")


def test_signing_key_is_kept_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUBRICFORGE_SECRET_KEY", raising=False)
    first = signing_key(tmp_path)
    assert first == signing_key(tmp_path), "the same key after a restart"
    mode = stat.S_IMODE(os.stat(tmp_path / "session.key").st_mode)
    assert mode == 0o600
    monkeypatch.setenv("RUBRICFORGE_SECRET_KEY", "shared-by-replicas")
    assert signing_key(tmp_path) == b"shared-by-replicas"


def test_ended_sessions_are_cleared_away(session: Session, alice: UserInfo) -> None:
    from rubricforge.models.accounts.orm import UserSession
    from sqlalchemy import func, select

    old = signed_in(session, alice)
    old_id = session_id_of(KEY, old)
    assert old_id is not None
    revoke_session(session, old_id)
    live = signed_in(session, alice)
    session.commit()
    begin_session(session, int(alice.id), now=datetime.now(UTC) + timedelta(days=2))
    session.commit()
    ids = set(session.scalars(select(UserSession.id)).all())
    assert old_id not in ids and session_id_of(KEY, live) in ids
    assert session.scalar(select(func.count()).select_from(UserSession)) == 2


def test_only_the_browser_that_signed_in_can_claim_the_code(
    session: Session, alice: UserInfo
) -> None:
    _, code = begin_session(session, int(alice.id), browser="browser-a-secret")
    session.commit()
    for other in (None, "browser-b-secret"):
        with pytest.raises(InvalidInputError, match="expired or was already used"):
            claim_handoff(session, KEY, code, browser=other)
        session.rollback()
    token, _ = claim_handoff(session, KEY, code, browser="browser-a-secret")
    session.commit()
    assert session_user(session, KEY, token) == alice


def test_the_browser_secret_is_the_token_inside_streamlits_xsrf_cookie() -> None:
    from rubricforge.webapp.session_routes import browser_secret, safe_next
    from streamlit.web.server.starlette.starlette_app_utils import (
        generate_xsrf_token_string,
    )

    token = bytes(range(16))
    # Streamlit re-masks the cookie each time it sets it; the token stays.
    first, second = (generate_xsrf_token_string(token, 1) for _ in range(2))
    assert first != second
    assert browser_secret(first) == browser_secret(second) == token.hex()
    for bad in (None, "", "garbage", "2|zz|00|1", "1|00|00|1"):
        assert browser_secret(bad) is None
    # Where sign-in may send the browser next: only paths of this site.
    assert safe_next("/editor?prompt=16") == "/editor?prompt=16"
    for bad in ("//evil.example/x", "https://evil.example", "/\\evil", "editor", None, "/a b"):
        assert safe_next(bad) == "/"
