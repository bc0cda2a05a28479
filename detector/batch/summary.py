"""``DIR/summary.json`` and ``DIR/summary.csv``: one entry per input, in the order given."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from detector.util.files import replace_text

CSV_COLUMNS = ("name", "source", "status", "frames", "fps", "seconds", "detections", "warnings", "error",
               "node", "attempts")


def totals(records: list[dict]) -> dict:
    by_status: dict[str, int] = {}
    for r in records:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    ran = [r for r in records if r["status"] == "done"]
    frames = sum(r["frames"] for r in ran)
    return {"inputs": len(records), **by_status, "frames": frames}


def write_summary(out_dir: str | Path, records: list[dict], run: dict) -> None:
    """Both files, each written whole under a temporary name and renamed."""
    out = Path(out_dir)
    public = [{k: v for k, v in r.items() if k not in ("key", "fingerprint")} for r in records]
    doc = {"run": run, "totals": totals(records), "inputs": public}
    replace_text(out / "summary.json", json.dumps(doc, indent=2) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for r in public:
        w.writerow([r["name"], r["source"], r["status"], r["frames"], r["fps"], r["seconds"],
                    ";".join(f"{k}:{v}" for k, v in r["detections"].items()), " | ".join(r["warnings"]),
                    r["error"] or "", r["node"], r["attempts"]])
    replace_text(out / "summary.csv", buf.getvalue())
