# Reads a table that a doc's section holds, for the tests that run every row of it
# (tests/cli/bad_input_test.sh: docs/reliability.md "Bad input"; tests/examples/
# bad_config_test.sh: docs/config.md "Bad configs and their errors"), so that the
# table and the behaviour cannot drift apart.
import re


def doc_table(doc, title, header):
    """The section `## title` of `doc`: its base pipeline (the ```toml p.toml fence), its table
    rows (lines starting "| ", the header row, whose first cell is `header`, left out) and the
    rows' first cells."""
    text = open(doc, encoding="utf-8").read()
    parts = text.split(f"\n## {title}\n", 1)
    assert len(parts) == 2, f"{doc} has no section '{title}'"
    section = parts[1].split("\n## ", 1)[0]
    base = re.search(r"```toml p\.toml\n(.*?)```", section, re.S).group(1)
    rows = [l for l in section.splitlines() if l.startswith("| ") and not l.startswith(f"| {header} ")]
    names = [r.strip("|").split(" | ")[0].strip() for r in rows]
    return base, rows, names
