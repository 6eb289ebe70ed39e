"""What Meltano would do with examples/meltano/meltano.yml, for examples_test.sh.

  meltano_project.py check MELTANO_YML SINGER_MD
      The project parses; its tap-zuora extractor is a Singer tap with the catalog, discover
      and state capabilities whose executable exists and is executable; its settings are
      exactly the config keys of docs/singer.md's "Config keys" table (read from the doc, so
      the two cannot drift apart); a loader is there to run it into.
  meltano_project.py config MELTANO_YML BASE_URL
      Prints the tap's config JSON as Meltano writes it: each setting's default value, then the
      plugin's config, then TAP_ZUORA_<SETTING> from the environment; base_url set to BASE_URL.
  meltano_project.py select MELTANO_YML CATALOG
      Prints CATALOG with the extractor's select rules applied as Meltano applies them
      ("entity.attribute" globs, "!" excludes).
"""
import fnmatch
import json
import os
import re
import sys

import yaml

EXTRACTOR = "tap-zuora"


def load_project(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def extractor(project):
    found = [p for p in project["plugins"]["extractors"] if p["name"] == EXTRACTOR]
    assert len(found) == 1, f"one extractor named {EXTRACTOR}, got {len(found)}"
    return found[0]


def documented_config_keys(singer_md):
    """The first cell of every row of the table under "## Config keys"."""
    keys, in_section = [], False
    with open(singer_md, encoding="utf-8") as f:
        for line in f:
            if line.startswith("## "):
                in_section = line.strip() == "## Config keys"
                continue
            m = re.match(r"^\| `([a-z_]+)` \|", line) if in_section else None
            if m:
                keys.append(m.group(1))
    assert keys, f"{singer_md} has no \"## Config keys\" table"
    return keys


def check(meltano_yml, singer_md):
    project = load_project(meltano_yml)
    tap = extractor(project)
    assert tap["namespace"] == "tap_zuora", tap["namespace"]
    missing = {"catalog", "discover", "state"} - set(tap["capabilities"])
    assert not missing, f"capabilities lack {sorted(missing)}"
    assert "pip_url" not in tap, "a pip_url would make Meltano look for the executable in a virtualenv"
    # Meltano takes an executable with a slash relative to the project directory.
    exe = tap["executable"]
    assert "/" in exe, f"executable {exe!r} would be looked up on PATH, not beside meltano.yml"
    path = os.path.join(os.path.dirname(os.path.abspath(meltano_yml)), exe)
    assert os.path.isfile(path) and os.access(path, os.X_OK), f"{path} is not an executable file"
    names = [s["name"] for s in tap["settings"]]
    assert len(names) == len(set(names)), f"a setting is listed twice: {names}"
    keys = documented_config_keys(singer_md)
    unknown = [n for n in names if n not in keys]
    assert not unknown, f"settings {unknown} are not config keys of {singer_md}"
    unset = [k for k in keys if k not in names]
    assert not unset, f"config keys {unset} of {singer_md} have no setting"
    for s in tap["settings"]:
        if s["name"] in ("username", "password"):
            assert s.get("sensitive") is True or s.get("kind") == "password", f"{s['name']} is not secret"
        # tap-zuora reads these as true only when they are the string "true".
        if s["name"] in ("sandbox", "european"):
            assert s.get("kind") != "boolean", f"{s['name']} as a boolean would reach the tap as JSON true"
    for k, v in tap.get("config", {}).items():
        assert k in names, f"config sets {k}, which is not a setting"
        assert k not in ("username", "password"), f"{k} is a secret: from the environment only"
    assert tap.get("select"), "no select rules"
    assert project["plugins"].get("loaders"), "no loader"


def config(meltano_yml, base_url):
    tap = extractor(load_project(meltano_yml))
    cfg = {s["name"]: s["value"] for s in tap["settings"] if "value" in s}
    cfg.update(tap.get("config", {}))
    prefix = tap["name"].upper().replace("-", "_") + "_"
    for s in tap["settings"]:
        env = os.environ.get(prefix + s["name"].upper())
        if env is not None:
            cfg[s["name"]] = int(env) if s.get("kind") == "integer" else env
    cfg["base_url"] = base_url
    print(json.dumps(cfg, indent=2))


def rule_matches(rule, stream, prop):
    entity, _, attribute = rule.partition(".")
    return fnmatch.fnmatchcase(stream, entity) and fnmatch.fnmatchcase(prop, attribute)


def select(meltano_yml, catalog_path):
    rules = extractor(load_project(meltano_yml))["select"]
    include = [r for r in rules if not r.startswith("!")]
    exclude = [r[1:] for r in rules if r.startswith("!")]
    with open(catalog_path, encoding="utf-8") as f:
        catalog = json.load(f)
    for stream in catalog["streams"]:
        name = stream["tap_stream_id"]
        chosen = lambda p: any(rule_matches(r, name, p) for r in include) and not any(
            rule_matches(r, name, p) for r in exclude)
        stream_selected = any(fnmatch.fnmatchcase(name, r.partition(".")[0]) for r in include)
        for entry in stream["metadata"]:
            bc = entry["breadcrumb"]
            if not bc:
                entry["metadata"]["selected"] = stream_selected
            elif len(bc) == 2 and bc[0] == "properties":
                entry["metadata"]["selected"] = stream_selected and chosen(bc[1])
    print(json.dumps(catalog, indent=2))


if __name__ == "__main__":
    {"check": check, "config": config, "select": select}[sys.argv[1]](*sys.argv[2:])
