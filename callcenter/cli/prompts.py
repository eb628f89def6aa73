"""``callcenter prompts render``: render every fixed prompt of the IVR flows to 8 kHz audio ahead of calls."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from callcenter.cli.common import console, fail, state
from callcenter.ivr.audio import seconds, write_wav_atomically
from callcenter.ivr.ports import SpeechError
from callcenter.ivr.prompts import PromptSource
from callcenter.ivr.speech import EspeakSynthesizer
from callcenter.yamlfile import ConfigFileError

__all__ = ["app", "render", "say"]

app = typer.Typer(help="IVR prompts: render them ahead of calls, see which come from recordings.",
                  no_args_is_help=True)


@app.command("say")
def say(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="What to say, e.g. a household label or an address.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the 8 kHz WAV.")] = Path("say.wav"),
) -> None:
    """Speak TEXT with the configured voice into a WAV file, to check how a label or address sounds."""
    ivr = state(ctx).settings.ivr
    synthesizer = EspeakSynthesizer(ivr.voice, speed=ivr.speech_rate)
    try:
        audio = synthesizer.synthesize(text)
        english = "(en)" in synthesizer.phonemes(text)
    except SpeechError as exc:
        fail(str(exc))
    write_wav_atomically(out, audio)
    console.print(f"{out}: {seconds(audio):.1f} s at 8 kHz")
    if english:
        console.print("[yellow]warning:[/yellow] part of the text is spoken with English rules "
                      "(Latin letters, or a voice without Mandarin for some characters)")


@app.command("render")
def render(ctx: typer.Context) -> None:
    """Render (or find in the cache) every fixed prompt; recorded WAVs in the prompts folder win."""
    container = state(ctx).container
    try:
        library = container.prompt_library
    except ConfigFileError as exc:
        fail(str(exc))
    table = Table("prompt", "source", "seconds", "text")
    failed = []
    for prompt, text in library.fixed.items():
        try:
            rendered = library.render_prompt(prompt, text)
        except SpeechError as exc:
            failed.append(f"{prompt}: {exc}")
            continue
        source = rendered.source.value
        if rendered.source is PromptSource.RECORDED:
            source = f"[green]{source}[/green] ({library.recording_for(prompt)})"
        table.add_row(prompt, source, f"{rendered.seconds:.1f}", text)
    console.print(table)
    recorded = sum(1 for p in library.fixed if library.recording_for(p) is not None)
    console.print(f"{len(library.fixed) - len(failed)} prompts ready in {library.cache_dir}; "
                  f"{recorded} from recordings in {library.prompts_dir}")
    if failed:
        fail("could not render: " + "; ".join(failed))
