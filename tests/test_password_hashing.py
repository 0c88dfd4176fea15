"""The tests hash passwords at a cheap scrypt work factor (tests/conftest.py); the panel itself must not."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import PASSWORD, TEST_PASSWORD_HASH_METHOD

ROOT = Path(__file__).resolve().parents[1]


def test_the_panel_hashes_passwords_with_werkzeugs_default_scrypt():
    program = ("from app.models import User; user = User(username='x'); user.set_password('secret');"
               " print(user.password_hash.split('$')[0]); print(user.check_password('secret'))")
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["scrypt:32768:8:1", "True"]


def test_the_tests_users_get_the_cheap_hash_and_still_sign_in(make_user):
    user = make_user("hashed", "viewer")
    assert user.password_hash.startswith(TEST_PASSWORD_HASH_METHOD + "$")
    assert user.check_password(PASSWORD) and not user.check_password(PASSWORD + "!")
