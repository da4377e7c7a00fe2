"""report.html: one self-contained page (plots embedded) to read or mail around."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from dstorch.outcomes import GATED, NEGATIVE_KINDS, NO_GATE
from dstorch.report.plots import LABELS

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
.note { background: #fff6d5; padding: 0.5em 1em; border-left: 4px solid #e0b000; }
.bad { color: #b00020; }
img { max-width: 100%; }
"""


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    """An HTML table; every cell is escaped because transcripts come from users' files."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{escape(str(c))}</td>' if i in numeric else f"<td>{escape(str(c))}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _headline(analysis: dict) -> str:
    rows = [
        [LABELS[d], f["samples"], pct(f["accuracy"]), num(f["wer"]), num(f["cer"])]
        for d, f in analysis["headline"].items()
    ]
    table = _table(["decoding", "samples", "accuracy", "WER", "CER"], rows, {1, 2, 3, 4})
    scorer = analysis["scorer"]
    if scorer:
        settings = ", ".join(f"{k} {v}" for k, v in scorer.items() if k != "file")
        table += f"<p>Scorer {escape(scorer['file'])} ({escape(settings)}).</p>"
    return table


def _training(training: dict) -> str:
    if not training["epochs"]:
        return "<p>No training history was given.</p>"
    return (
        f"<p>{training['epochs']} epochs; best dev loss {num(training['best_dev_loss'], 4)} "
        f"at epoch {training['best_epoch']}; last train loss "
        f"{num(training['last_train_loss'], 4)}; learning rate {training['first_lr']} → "
        f"{training['last_lr']}.</p>"
    )


def _image(out_dir: Path, name: str | None, alt: str) -> str:
    """Embedded as base64 so the page still shows its plots when copied on its own."""
    if name is None:
        return ""
    data = base64.b64encode((out_dir / name).read_bytes()).decode("ascii")
    return f'<p><img src="data:image/png;base64,{data}" alt="{escape(alt)}"></p>'


def _commands(analysis: dict) -> str:
    decoders = analysis["decoders"]
    header = ["command", "samples"] + [f"accuracy {LABELS[d]}" for d in decoders]
    rows = [
        [r["command"], r["samples"], *(pct(r["accuracy"][d]) for d in decoders)]
        for r in analysis["commands"]
    ]
    return _table(header, rows, set(range(1, len(header))))


def _confusion(analysis: dict) -> str:
    confusion, parts = analysis["confusion"], []
    labels = confusion["labels"]
    for decoder in analysis["decoders"]:
        rows = [[labels[i], *row] for i, row in enumerate(confusion[decoder])]
        table = _table(["reference \\ prediction", *labels], rows, set(range(1, len(labels) + 1)))
        others = confusion["other_predictions"][decoder]
        heard = ", ".join(f"“{escape(_heard(t))}” ×{n}" for t, n in others) or "none"
        parts.append(
            f"<details open><summary>{LABELS[decoder]}</summary>{table}"
            f"<p>Predictions that are no command (the “other” column): {heard}</p></details>"
        )
    return "".join(parts)


def _speakers(analysis: dict) -> str:
    if not analysis["speakers"]:
        return "<p>Speakers unknown (no registry was given or it has no speakers).</p>"
    decoders = analysis["decoders"]
    seen = {True: "yes", False: "no (unseen)", None: "unknown"}
    header = ["speaker", "samples", "heard in training"] + [
        f"accuracy {LABELS[d]}" for d in decoders
    ]
    rows = [
        [r["speaker"], r["samples"], seen[r["seen_in_training"]]]
        + [pct(r["accuracy"][d]) for d in decoders]
        for r in analysis["speakers"]
    ]
    groups = analysis["speaker_groups"]
    summary = "; ".join(
        f"{name} speakers ({len(g['speakers'])}, {g['samples']} samples): "
        + ", ".join(f"{pct(g['accuracy'][d])} {LABELS[d]}" for d in decoders)
        for name, g in groups.items()
    )
    return _table(header, rows, set(range(3, len(header))) | {1}) + f"<p>{escape(summary)}</p>"


def _noisy(analysis: dict) -> str:
    """Accuracy in a simulated room with noise, all test voices and unseen/seen ones."""
    rows = [
        [row["condition"], LABELS[decoder], row["samples"]]
        + [pct(figures[name]) for name in ("all", "unseen", "seen")]
        for row in analysis.get("noisy") or []
        for decoder, figures in row["accuracy"].items()
    ]
    if not rows:
        return "<p>No noisy test was run.</p>"
    header = ["condition", "decoding", "samples", "accuracy", "unseen voices", "seen voices"]
    note = (
        "<p>Each test clip in a simulated room (other rooms than training's) with pink noise "
        "or babble at the given SNR.</p>"
    )
    return note + _table(header, rows, {2, 3, 4, 5})


GATE_LABELS = {NO_GATE: "no gate", GATED: "through the gate"}


def _acting(analysis: dict, out_dir: Path) -> str:
    """What a device does: outcomes on commands and false accepts on negatives per gate
    setting, the trade-off plot, and the confusable pairs."""
    acting = analysis.get("acting")
    if not acting:
        return (
            "<p>No negatives were tested (GENERAL_SENTENCES and NEAR_MISSES are 0): how often "
            "the model acts on speech that is no command is unknown.</p>"
        )
    header, rows = _acting_rows(acting["outcomes"])
    gate = acting["gate"]
    about = (
        f"Gate: {gate['measure'].replace('_', ' ')} ≥ {gate['threshold']:.3g}, from the best "
        f"{gate['num_results']} candidates."
        if gate
        else "No gate file beside the model: every command the decoder answers is acted on."
    )
    taken = acting["outcomes"][acting["deployed"]]["confusion"]
    confused = ", ".join(f"“{c['said']}” as “{c['taken']}” ×{c['clips']}" for c in taken)
    return (
        f"<p>Decoded {escape(LABELS[acting['decoder']])}. A wrong command is a wrong action; a "
        f"negative (speech that is no command, noise) answered with a command is a false "
        f"accept. {escape(about)}</p>"
        + _table(header, rows, set(range(1, len(header))))
        + f"<p>Commands taken for others: {escape(confused or 'none')}.</p>"
        + _image(out_dir, analysis["plots"].get("tradeoff"), "gate trade-off")
        + _pairs(acting["pairs"])
    )


def _acting_rows(outcomes: dict) -> tuple[list[str], list[list]]:
    """The outcomes table: one row per gate setting."""
    header = [
        "gate",
        "commands",
        "right",
        "wrong command",
        "rejected",
        "negatives",
        "false accepts",
        "per hour",
        *(f"false accepts: {k}" for k in NEGATIVE_KINDS),
    ]
    rows = []
    for setting, t in outcomes.items():
        per_hour = t["false_accepts_per_hour"]
        kinds = [
            f"{t['by_kind'][k]['false_accepts']} of {t['by_kind'][k]['clips']}"
            if k in t["by_kind"]
            else "n/a"
            for k in NEGATIVE_KINDS
        ]
        rows.append(
            [
                GATE_LABELS[setting],
                t["commands"],
                pct(t["right_share"]),
                pct(t["wrong_share"]),
                pct(t["rejected_share"]),
                t["negatives"],
                pct(t["false_accept_share"]),
                num(per_hour, 0),
                *kinds,
            ]
        )
    return header, rows


def _pairs(pairs: dict[str, list[dict]]) -> str:
    """Per confusable pair, how often each command was taken for the other, per gate
    setting (the rows of each setting are the same pairs in the same order)."""
    settings = list(pairs)
    if not pairs[settings[0]]:
        return "<p>No two commands are one word or a couple of letters apart.</p>"
    header = ["command A", "command B", "A clips", "B clips"]
    header += [f"{d} ({GATE_LABELS[s]})" for s in settings for d in ("A as B", "B as A")]
    rows = []
    for i, first in enumerate(pairs[settings[0]]):
        row = [first["a"], first["b"], first["a_clips"], first["b_clips"]]
        rows.append(row + [pairs[s][i][k] for s in settings for k in ("a_as_b", "b_as_a")])
    return "<h3>Confusable pairs</h3>" + _table(header, rows, set(range(2, len(header))))


def _heard(text: str | None) -> str:
    """What a decoder produced; an empty transcript would otherwise be an invisible cell."""
    return "" if text is None else text or "(nothing)"


def _worst(analysis: dict) -> str:
    worst = analysis["worst"]
    if not worst:
        return "<p>Every test sample was recognized exactly.</p>"
    decoders = analysis["decoders"]
    ranked_by = LABELS[worst[0]["ranked_by"]]
    header = ["file", "speaker", "reference"] + [f"heard {LABELS[d]}" for d in decoders]
    header += [f"WER ({ranked_by})", f"CER ({ranked_by})", "loss"]
    rows = [
        [r["name"], r["speaker"], r["reference"]]
        + [_heard(r[f"prediction_{d}"]) for d in decoders]
        + [num(r["wer"]), num(r["cer"]), num(r["loss"])]
        for r in worst
    ]
    n = len(header)
    return _table(header, rows, {n - 3, n - 2, n - 1})


def render(analysis: dict, out_dir: Path, title: str) -> str:
    """The whole page; sections without data say so instead of disappearing."""
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in analysis["notes"])
    plots = analysis["plots"]
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}"
        f"</title><style>{STYLE}</style></head><body><h1>{escape(title)}</h1>",
        f"<p>Generated {escape(analysis['generated'])}.</p>{notes}",
        "<h2>Training</h2>",
        _training(analysis["training"]),
        _image(out_dir, plots.get("loss"), "train and dev loss per epoch"),
    ]
    if analysis["samples"]:
        parts += [
            "<h2>Test results</h2>",
            _headline(analysis),
            "<h2>Per command</h2>",
            _image(out_dir, plots.get("accuracy"), "accuracy per command"),
            _commands(analysis),
            "<h2>Confusion between commands</h2>",
            _image(out_dir, plots.get("confusion"), "confusion matrix"),
            _confusion(analysis),
            "<h2>Per speaker</h2>",
            _speakers(analysis),
            "<h2>In a noisy room</h2>",
            _noisy(analysis),
            "<h2>Acting on commands</h2>",
            _acting(analysis, out_dir),
            "<h2>Worst samples</h2>",
            _worst(analysis),
        ]
    else:
        parts.append(
            '<h2>Test results</h2><p class="note bad">The test set is empty: there are no '
            "test figures. Add recordings or raise TEST_FRACTION, then run prepare and train "
            "again.</p>"
        )
    return "".join(parts) + "</body></html>\n"
