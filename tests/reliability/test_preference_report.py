"""The preference report: `preference_report`, `report(..., judgements=...)` and `cqmetric report --judgements`."""

from __future__ import annotations

import csv
import json

import pytest

from cqmetric.cli import main
from cqmetric.errors import InputValidationError
from cqmetric.reliability import preference_agreement, preference_report, report

# three judges rank three texts of each of four items (no ties)
JUDGED = {"item": [], "judge": [], "text_id": [], "rank": []}
for item, ranks in {"q1": ["abc", "abc", "bac"], "q2": ["def", "edf", "def"], "q3": ["ghi", "gih", "hgi"],
                    "q4": ["jkl", "jkl", "lkj"]}.items():
    for judge, order in zip(("ann", "bob", "cy"), ranks):
        for r, t in enumerate(order, 1):
            JUDGED["item"].append(item)
            JUDGED["judge"].append(judge)
            JUDGED["text_id"].append(t)
            JUDGED["rank"].append(r)
SCORES = {t: float(v) for t, v in zip("abcdefghijkl", [3, 2, 1, 2, 3, 1, 3, 1, 2, 1, 1, 0])}
LENGTH = {t: float(v) for t, v in zip("abcdefghijkl", [100, 120, 90, 80, 80, 200, 50, 60, 70, 300, 200, 100])}


def test_report_rows_directions_and_comparisons():
    rep = preference_report({"cs": SCORES}, JUDGED, baselines={"length": LENGTH}, n_boot=300, seed=2)
    assert rep.names == ["cs", "length (higher)", "length (lower)", "judges' ceiling"]
    # every row is preference_agreement / preference_ceiling with the same options
    assert rep.get("cs") == preference_agreement(SCORES, JUDGED, n_boot=300, seed=2, confidence=0.95)
    hi, lo = rep.get("length (higher)"), rep.get("length (lower)")
    # no judged ties and score ties credited 0.5: the two directions of one baseline add up to 1
    assert hi.accuracy + lo.accuracy == pytest.approx(1.0)
    assert [(c.name_a, c.name_b) for c in rep.comparisons] == [("cs", "length (higher)"), ("cs", "length (lower)")]
    diff = rep.comparison("cs", "length (lower)")
    assert diff.difference == pytest.approx(rep.get("cs").accuracy - lo.accuracy)
    text = str(rep)
    assert "judges' ceiling" in text and "cs - length (lower)" in text and "stat:preference_report" in text
    assert json.loads(rep.to_json())["rows"][3]["kind"] == "ceiling"


def test_report_dispatches_to_preferences():
    via_report = report({"cs": SCORES}, judgements=JUDGED, baselines={"length": LENGTH}, n_boot=200,
                        preference_options={"score_ties": "drop"})
    direct = preference_report({"cs": SCORES}, JUDGED, baselines={"length": LENGTH}, n_boot=200, score_ties="drop")
    assert via_report.to_dict() == direct.to_dict()
    with pytest.raises(InputValidationError, match="got both"):
        report(SCORES, [[1, 2]], judgements=JUDGED)
    with pytest.raises(InputValidationError, match="got neither"):
        report(SCORES)
    with pytest.raises(InputValidationError, match="`method`, `level` apply to ratings"):
        report(SCORES, judgements=JUDGED, method="kendall", level="group")
    with pytest.raises(InputValidationError, match="preference_options` keys"):
        report(SCORES, judgements=JUDGED, preference_options={"bins": 3})
    with pytest.raises(InputValidationError, match="only with `judgements`"):
        report([1, 2, 3], [[1, 2], [2, 3], [3, 3]], preference_options={"score_ties": "drop"})


def test_report_input_checks():
    with pytest.raises(InputValidationError, match="unknown scorer"):
        preference_report({"cs": SCORES}, JUDGED, higher_is_better={"other": False}, n_boot=0)
    with pytest.raises(InputValidationError, match="distinct row names"):
        preference_report({"judges' ceiling": SCORES}, JUDGED, n_boot=0)
    low = preference_report({"cs": SCORES}, JUDGED, higher_is_better={"cs": False}, n_boot=0)
    assert low.rows[0].higher_is_better is False
    assert low.get("cs").accuracy == pytest.approx(1 - preference_report(SCORES, JUDGED, n_boot=0).get("scorer").accuracy)


def _files(tmp_path):
    scores = tmp_path / "scores.jsonl"
    scores.write_text("".join(json.dumps({"id": t, "surprise": SCORES[t], "n_words": LENGTH[t]}) + "\n" for t in SCORES))
    judged = tmp_path / "judged.csv"
    with judged.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["item", "judge", "text_id", "rank"])
        w.writerows(zip(*JUDGED.values()))
    return scores, judged


def test_cli_report_with_judgements(tmp_path, capsys):
    scores, judged = _files(tmp_path)
    assert main(["report", str(scores), "--judgements", str(judged), "--baseline-field", "n_words",
                 "--n-boot", "200", "--seed", "3"]) == 0
    shown = capsys.readouterr().out
    expected = preference_report({"surprise": SCORES}, JUDGED, baselines={"n_words": LENGTH}, n_boot=200, seed=3)
    assert shown.strip() == str(expected)
    out = tmp_path / "rep.json"
    assert main(["report", str(scores), "--judgements", str(judged), "--lower-is-better", "surprise",
                 "--score-ties", "drop", "--n-boot", "0", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["rows"][0]["higher_is_better"] is False and data["settings"]["score_ties"] == "drop"


def test_cli_report_judgement_errors(tmp_path, capsys):
    scores, judged = _files(tmp_path)
    assert main(["report", str(scores)]) == 2
    assert "expected --ratings or --judgements, got neither" in capsys.readouterr().err
    assert main(["report", str(scores), "--judgements", str(judged), "--ratings", str(judged)]) == 2
    assert "got both" in capsys.readouterr().err
    assert main(["report", str(scores), "--judgements", str(judged), "--level", "group"]) == 2
    assert "--level group apply to --ratings" in capsys.readouterr().err
    assert main(["report", str(scores), "--judgements", str(scores)]) == 2
    assert "expected the judgements file" in capsys.readouterr().err
    assert main(["report", str(scores), "--judgements", str(judged), "--lower-is-better", "n_words"]) == 2
    assert "--lower-is-better to name score columns" in capsys.readouterr().err
