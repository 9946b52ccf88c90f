"""``revflow dead-letters``: events that could not be processed, listed and replayed.

Register with ``cli.add_typer(dead_letters_cli, name="dead-letters")``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from revflow.cli_options import ConfigOption, run_in_transaction

dead_letters_cli = typer.Typer(help="Events that could not be processed.", no_args_is_help=True)


@dead_letters_cli.command("list")
def dead_letters_list(
    config: ConfigOption = None,
    all_: Annotated[bool, typer.Option("--all", help="Include replayed ones.")] = False,
) -> None:
    """List dead letters with their reason."""
    from revflow.ingest.dead_letters import list_dead_letters

    letters = run_in_transaction(config, lambda s, _: list_dead_letters(s, include_replayed=all_))
    for d in letters:
        state = f" replayed {d.replayed_at:%Y-%m-%d %H:%M}" if d.replayed_at else ""
        typer.echo(
            f"{d.id}\t{d.created_at:%Y-%m-%d %H:%M:%S}\t{d.source}\t{d.reference}"
            f"\t{d.reason}{state}"
        )
    typer.echo(f"{len(letters)} dead letter(s)")


@dead_letters_cli.command("replay")
def dead_letters_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="Ids to replay (default: all).")] = None,
    config: ConfigOption = None,
) -> None:
    """Parse dead letters again and record those that can be read in the inbox."""
    from revflow.ingest.dead_letters import replay

    outcomes = run_in_transaction(config, lambda s, _: replay(s, ids), write=True)
    for o in outcomes:
        typer.echo(f"{o.id}\t{'ok' if o.ok else 'failed'}\t{o.message}")
    raise typer.Exit(1 if any(not o.ok for o in outcomes) else 0)
