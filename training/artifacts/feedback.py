"""The feedback store from the training side: what was reported, and the labelled pictures out.

    python -m training.artifacts.feedback stats --store feedback.db [--json]
    python -m training.artifacts.feedback export --store feedback.db --out DIR          # verified samples
    python -m training.artifacts.feedback export --store feedback.db --out DIR --unverified
    python -m training.artifacts.feedback import --store feedback.db --labels DIR/labels.jsonl

``stats``: reports accepted and rejected, reports per colour, samples, and the live accuracy per
colour and model version (of the server's own answers that were submitted, the share accepted).
``export``: the pictures with a verified label (a text the platform accepted) and ``labels.jsonl``
in the generator's format (``file``, ``answers``: the asked colour's label, the other colours
null), plus ``color`` (the colour asked), ``source`` and ``sample_id``. ``--unverified``: the
pictures with no verified label, ``label`` left empty for a person or a solving service to fill;
``import`` brings such a file back: the labels are kept apart from verified ones (``imported``)
and exported with ``--imported``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from captcha_core.colors import ALL_COLORS
from captcha_core.feedback import FeedbackStore, Sample, open_store

from ..synth import charset
from ..net.encoding import MAX_LEN


def stats(store: FeedbackStore) -> dict:
    counts = store.counts()
    per_color = {c.label: counts["reports_per_color"].get(c.label, 0) for c in ALL_COLORS}
    live = [{"color": x.color, "model": x.model, "version": x.version, "accepted": x.accepted,
             "rejected": x.rejected, "accuracy": round(x.accuracy, 4)} for x in store.live()]
    return {"accepted": counts["accepted"], "rejected": counts["rejected"], **per_color,
            "samples": counts["samples"], "verified": counts["verified"], "imported": counts["imported"],
            "live_accuracy": live}


def _suffix(picture: bytes) -> str:
    return ".png" if picture.startswith(b"\x89PNG") else ".jpg" if picture.startswith(b"\xff\xd8") else ".img"


def write_folder(samples, out: Path, with_labels: bool = True) -> int:
    """Pictures plus labels.jsonl; returns how many."""
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(out / "labels.jsonl", "w", encoding="utf-8") as labels:
        for s in samples:
            name = f"{s.id:08d}-{s.color}{_suffix(s.picture)}"
            (out / name).write_bytes(s.picture)
            row = record(name, s, s.label if with_labels else None)
            labels.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def record(name: str, sample: Sample, label: str | None) -> dict:
    row = {"file": name, "answers": {c.label: (label if c.label == sample.color else None) for c in ALL_COLORS},
           "color": sample.color, "source": sample.source, "sample_id": sample.id, "created": sample.created}
    if label is None:
        row["label"] = ""
    return row


def import_labels(store: FeedbackStore, labels: Path) -> tuple[int, int]:
    """(imported, skipped): a row without a label, or for a sample verified meanwhile, is skipped."""
    imported = skipped = 0
    for number, line in enumerate(labels.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            sample_id, label = int(row["sample_id"]), str(row.get("label") or "").strip().upper()
        except (ValueError, KeyError, TypeError) as exc:
            print(f"line {number}: skipped ({type(exc).__name__}: {exc})")
            skipped += 1
            continue
        readable = set(charset.vocabulary())
        if label and len(label) <= MAX_LEN and set(label) <= readable and store.import_label(sample_id, label):
            imported += 1
        else:
            skipped += 1
    return imported, skipped


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("stats")
    s.add_argument("--json", action="store_true")
    e = sub.add_parser("export")
    e.add_argument("--out", type=Path, required=True)
    kind = e.add_mutually_exclusive_group()
    kind.add_argument("--unverified", action="store_true", help="pictures with no verified label, to be labelled")
    kind.add_argument("--imported", action="store_true", help="pictures labelled by import (not verified)")
    i = sub.add_parser("import")
    i.add_argument("--labels", type=Path, required=True, help="a labels.jsonl from export --unverified, filled in")
    for q in (s, e, i):
        q.add_argument("--store", required=True, help="the server's --feedback-store")
    args = p.parse_args(argv)
    try:
        store = open_store(args.store, create=False)
    except FileNotFoundError as exc:
        raise SystemExit(str(exc)) from None
    try:
        if args.command == "stats":
            report = stats(store)
            if args.json:
                print(json.dumps(report, ensure_ascii=False))
            else:
                print(f"reports: {report['accepted']} accepted, {report['rejected']} rejected; " + ", ".join(
                    f"{c.label} {report[c.label]}" for c in ALL_COLORS))
                print(f"samples: {report['samples']} ({report['verified']} verified, {report['imported']} imported)")
                for x in report["live_accuracy"]:
                    print(f"live accuracy {x['color']} ({x['model']} v{x['version']}): {x['accuracy']:.1%} "
                          f"({x['accepted']} of {x['accepted'] + x['rejected']})")
        elif args.command == "export":
            if args.unverified:
                n = write_folder(store.unverified(), args.out, with_labels=False)
            else:
                n = write_folder(store.samples(verified=not args.imported), args.out)
            print(f"{n} pictures in {args.out}")
        else:
            imported, skipped = import_labels(store, args.labels)
            print(f"{imported} labels imported, {skipped} skipped")
    finally:
        store.close()


if __name__ == "__main__":
    main()
