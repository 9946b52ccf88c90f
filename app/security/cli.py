"""``revflow keys ...`` (API keys) and ``revflow users ...`` (local users).

Registered with one line each in ``revflow.cli``.  The audit actor is ``--actor``,
by default the operating-system user (the CLI's identity is whoever may run it on
the host).  Exit codes: 0 done, 1 refused (unknown, exists, already revoked), 2 bad
usage.  Secrets (a new key, a TOTP URI, recovery codes) are printed once to stdout.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.cli_options import ConfigOption, fail, refused, run_in_transaction
from revflow.config import Settings
from revflow.orchestration.errors import OperatorError
from revflow.security import keys, users
from revflow.security.keyring import Keyring, KeyringError

keys_cli = typer.Typer(help="API keys for machine clients.", no_args_is_help=True)
users_cli = typer.Typer(help="Local users (password and TOTP second factor).", no_args_is_help=True)

ActorOpt = Annotated[
    str | None,
    typer.Option("--actor", help="Who does this, for the audit log (default: the OS user)."),
]
RoleArg = Annotated[str, typer.Option("--role", help="metrics, viewer, operator or admin.")]
Username = Annotated[str, typer.Argument(help="The local user's name.")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]
AsJson = Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")]


def _actor(actor: str | None) -> str:
    return (actor or getpass.getuser()).strip()[:100] or "cli"


def _run(
    config: Path | None,
    action: Callable[[AsyncSession, Settings], Awaitable[Any]],
    *,
    write: bool = True,
) -> Any:
    try:
        return run_in_transaction(config, action, write=write)
    except OperatorError as exc:
        refused(exc)
    except KeyringError as exc:
        fail(str(exc), 2)


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


# -- keys ------------------------------------------------------------------------------


@keys_cli.command("create")
def keys_create(
    role: RoleArg,
    name: Annotated[str | None, typer.Option("--name", help="What the key is for.")] = None,
    expires: Annotated[
        str, typer.Option("--expires", help="Lifetime: 90d, 12h, 30m, 2w, or never.")
    ] = "90d",
    actor: ActorOpt = None,
    config: ConfigOption = None,
) -> None:
    """Create an API key and print it once (only its hash is kept)."""
    try:
        wanted = keys.parse_role(role)
        lifetime = None if expires == "never" else keys.parse_duration(expires)
    except OperatorError as exc:
        refused(exc)
    who = _actor(actor)

    async def create(s: AsyncSession, _settings: Settings) -> keys.NewKey:
        return await keys.create_key(
            s, name=name or f"{wanted} key", role=wanted, actor=who, expires_in=lifetime
        )

    new = _run(config, create)
    typer.echo(
        f"key:{new.row.prefix} ({new.row.role}) expires {_when(new.row.expires_at)}; "
        "shown once, store it now:",
        err=True,
    )
    typer.echo(new.secret)


@keys_cli.command("list")
def keys_list(
    all_: Annotated[bool, typer.Option("--all", help="Revoked keys too.")] = False,
    as_json: AsJson = False,
    config: ConfigOption = None,
) -> None:
    """API keys: prefix, name, role, state, created, expires, last used."""

    async def fetch(s: AsyncSession, _settings: Settings) -> list[dict[str, Any]]:
        return [
            {
                "key": f"key:{k.prefix}",
                "name": k.name,
                "role": k.role,
                "state": keys.key_state(k),
                "created_at": _when(k.created_at),
                "created_by": k.created_by,
                "expires_at": _when(k.expires_at),
                "last_used_at": _when(k.last_used_at),
            }
            for k in await keys.list_keys(s, include_revoked=all_)
        ]

    rows = _run(config, fetch, write=False)
    _print_rows(rows, as_json)


@keys_cli.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's prefix (as in `keys list`).")],
    actor: ActorOpt = None,
    config: ConfigOption = None,
) -> None:
    """Revoke an API key at once."""
    who = _actor(actor)

    async def revoke(s: AsyncSession, _settings: Settings) -> str:
        return (await keys.revoke_key(s, key, actor=who)).prefix

    typer.echo(f"key:{_run(config, revoke)} revoked")


# -- users -----------------------------------------------------------------------------


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _enrolment(e: users.Enrolment) -> None:
    typer.echo(f"user:{e.user.username} ({e.user.role})")
    typer.echo("Add this to an authenticator app (shown once):")
    typer.echo(f"  {e.totp_uri}")
    typer.echo("Recovery codes, each usable once instead of a TOTP code (shown once):")
    for code in e.recovery_codes:
        typer.echo(f"  {code}")


def _keyring(settings: Settings) -> Keyring:
    return Keyring.from_settings(settings)


@users_cli.command("create")
def users_create(
    username: Username,
    role: RoleArg,
    password_stdin: PasswordStdin = False,
    actor: ActorOpt = None,
    config: ConfigOption = None,
) -> None:
    """Create a local user; prints the TOTP enrolment URI and recovery codes once."""
    try:
        wanted = keys.parse_role(role)
        users.check_username(username)
    except OperatorError as exc:
        refused(exc)
    password, who = _password(password_stdin), _actor(actor)

    async def create(s: AsyncSession, settings: Settings) -> users.Enrolment:
        return await users.create_user(
            s,
            _keyring(settings),
            username=username,
            role=wanted,
            password=password,
            actor=who,
            issuer=settings.security.totp_issuer,
        )

    _enrolment(_run(config, create))


@users_cli.command("list")
def users_list(as_json: AsJson = False, config: ConfigOption = None) -> None:
    """Local users: name, role, state, last login."""

    async def fetch(s: AsyncSession, _settings: Settings) -> list[dict[str, Any]]:
        return [
            {
                "user": u.username,
                "role": u.role,
                "state": "disabled" if u.disabled_at else "active",
                "locked_until": _when(u.locked_until),
                "last_login_at": _when(u.last_login_at),
                "created_by": u.created_by,
            }
            for u in await users.list_users(s)
        ]

    _print_rows(_run(config, fetch, write=False), as_json)


@users_cli.command("set-role")
def users_set_role(
    username: Username, role: RoleArg, actor: ActorOpt = None, config: ConfigOption = None
) -> None:
    """Change a user's role (their sessions end)."""
    try:
        wanted = keys.parse_role(role)
    except OperatorError as exc:
        refused(exc)
    who = _actor(actor)

    async def change(s: AsyncSession, _settings: Settings) -> bool:
        return await users.set_role(s, username, wanted, actor=who)

    changed = _run(config, change)
    typer.echo(f"user:{username} is {wanted}" + ("" if changed else " (unchanged)"))


@users_cli.command("password")
def users_password(
    username: Username,
    password_stdin: PasswordStdin = False,
    actor: ActorOpt = None,
    config: ConfigOption = None,
) -> None:
    """Set a user's password (their sessions end)."""
    password, who = _password(password_stdin), _actor(actor)

    async def change(s: AsyncSession, _settings: Settings) -> None:
        await users.set_password(s, username, password, actor=who)

    _run(config, change)
    typer.echo(f"user:{username} has a new password")


@users_cli.command("reset-2fa")
def users_reset_2fa(
    username: Username, actor: ActorOpt = None, config: ConfigOption = None
) -> None:
    """A new TOTP seed and recovery codes for a user who lost their authenticator."""
    who = _actor(actor)

    async def reset(s: AsyncSession, settings: Settings) -> users.Enrolment:
        return await users.reset_second_factor(
            s, _keyring(settings), username, actor=who, issuer=settings.security.totp_issuer
        )

    _enrolment(_run(config, reset))


@users_cli.command("recovery-codes")
def users_recovery_codes(
    username: Username, actor: ActorOpt = None, config: ConfigOption = None
) -> None:
    """Replace a user's recovery codes; prints the new ones once."""
    who = _actor(actor)

    async def renew(s: AsyncSession, _settings: Settings) -> list[str]:
        return await users.new_recovery_codes(s, username, actor=who)

    for code in _run(config, renew):
        typer.echo(code)


def _toggle(username: str, disabled: bool, actor: str | None, config: Path | None) -> None:
    who = _actor(actor)

    async def toggle(s: AsyncSession, _settings: Settings) -> bool:
        return await users.set_disabled(s, username, disabled, actor=who)

    changed = _run(config, toggle)
    state = "disabled" if disabled else "enabled"
    typer.echo(f"user:{username} {state}" + ("" if changed else " (unchanged)"))


@users_cli.command("disable")
def users_disable(username: Username, actor: ActorOpt = None, config: ConfigOption = None) -> None:
    """Disable a user: sessions end, logins are refused."""
    _toggle(username, True, actor, config)


@users_cli.command("enable")
def users_enable(username: Username, actor: ActorOpt = None, config: ConfigOption = None) -> None:
    """Enable a disabled user again."""
    _toggle(username, False, actor, config)


@users_cli.command("unlock")
def users_unlock(username: Username, actor: ActorOpt = None, config: ConfigOption = None) -> None:
    """Lift a lockout after repeated failed logins."""
    who = _actor(actor)

    async def unlock(s: AsyncSession, _settings: Settings) -> None:
        await users.unlock(s, username, actor=who)

    _run(config, unlock)
    typer.echo(f"user:{username} unlocked")


def _print_rows(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    if not rows:
        typer.echo("(none)")
        return
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    typer.echo("  ".join(c.ljust(widths[c]) for c in cols).rstrip())
    for r in rows:
        typer.echo("  ".join(str(r[c]).ljust(widths[c]) for c in cols).rstrip())
