#!/usr/bin/env python3
"""Checks of examples/kubernetes/fleet/ for examples_test.sh, one group per command:

  k8s_fleet.py CHECK FLEET_DIR [ARGS]

parse, kinds, job, worker, probes, env, secret: each asserts what its docstring says and exits
non-zero with the reason. pipeline OUT writes the ConfigMap's pipeline.toml to OUT and prints
`VAR=dummy` for every ${VAR} it reads (the test exports them before `aquaduct validate`).
"""
import glob
import os
import re
import sys
import tomllib

import yaml


def docs(fleet):
    out = []
    for path in sorted(glob.glob(os.path.join(fleet, "*.yaml"))):
        with open(path) as f:
            out += [(os.path.basename(path), d) for d in yaml.safe_load_all(f) if d]
    return out


def one(fleet, kind):
    found = [d for _, d in docs(fleet) if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} objects, want 1"
    return found[0]


def container(fleet):
    pod = one(fleet, "Job")["spec"]["template"]["spec"]
    named = [c for c in pod["containers"] if c["name"] == "aquaduct"]
    assert len(named) == 1, "no container named aquaduct"
    return pod, named[0]


def option(args, name):
    assert name in args, f"{name} not in the worker's args {args}"
    i = args.index(name)
    assert i + 1 < len(args), f"{name} has no value"
    return args[i + 1]


def health_dir(fleet):
    pod, c = container(fleet)
    d = option(c["args"], "--health-dir")
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert d in mounts, f"--health-dir {d} is not a mount"
    vol = [v for v in pod["volumes"] if v["name"] == mounts[d]][0]
    assert "emptyDir" in vol, f"{d} is not an emptyDir, so a new pod could see an old heartbeat"
    return d


def pipeline_text(fleet):
    cm = one(fleet, "ConfigMap")
    return cm["data"]["pipeline.toml"]


def check_parse(fleet):
    """Every file parses as YAML, each object with apiVersion, kind and metadata.name."""
    files = sorted(glob.glob(os.path.join(fleet, "*.yaml")))
    assert {os.path.basename(f) for f in files} >= {"secret.yaml", "pipeline.yaml", "workers.yaml"}, files
    for name, d in docs(fleet):
        assert d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name"), (name, d)


def check_kinds(fleet):
    """One Secret, one ConfigMap, one Job, and the Job uses both by name."""
    secret, cm = one(fleet, "Secret"), one(fleet, "ConfigMap")
    pod, c = container(fleet)
    assert any(v.get("configMap", {}).get("name") == cm["metadata"]["name"] for v in pod["volumes"])
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in c["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs == {secret["metadata"]["name"]}, refs


def check_job(fleet):
    """Indexed, parallelism == completions >= 2, restartPolicy Never, FailJob on exits 2 and 3."""
    spec = one(fleet, "Job")["spec"]
    assert spec["completionMode"] == "Indexed", spec.get("completionMode")
    assert spec["parallelism"] == spec["completions"] >= 2, (spec["parallelism"], spec["completions"])
    assert spec.get("backoffLimitPerIndex", 0) >= 1
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["terminationGracePeriodSeconds"] >= 30
    fail = [r for r in spec["podFailurePolicy"]["rules"] if r["action"] == "FailJob"]
    assert any(sorted(r["onExitCodes"]["values"]) == [2, 3] and r["onExitCodes"]["operator"] == "In"
               and r["onExitCodes"].get("containerName", "aquaduct") == "aquaduct" for r in fail), fail
    _, c = container(fleet)
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]


def check_worker(fleet):
    """The args run `worker` on the mounted pipeline, --run from the Job's name, --health-dir."""
    pod, c = container(fleet)
    args = c["args"]
    assert args[0] == "worker", args
    mounts = [m["mountPath"] for m in c["volumeMounts"]]
    assert any(args[1].startswith(m + "/") for m in mounts), f"{args[1]} is not in a mount"
    run = option(args, "--run")
    m = re.fullmatch(r"\$\((\w+)\)", run)
    assert m, f"--run {run} is not $(VAR)"
    env = {e["name"]: e for e in c["env"]}
    ref = env[m.group(1)]["valueFrom"]["fieldRef"]["fieldPath"]
    assert ref == "metadata.labels['batch.kubernetes.io/job-name']", ref
    health_dir(fleet)
    assert "--state" not in args or option(args, "--state").startswith("$("), "a DSN literal on the command line"


def check_probes(fleet):
    """Readiness tests DIR/ready, liveness the heartbeat's age, both under --health-dir."""
    d = health_dir(fleet)
    _, c = container(fleet)
    ready = " ".join(c["readinessProbe"]["exec"]["command"])
    live = " ".join(c["livenessProbe"]["exec"]["command"])
    assert f"{d}/ready" in ready, ready
    assert f"{d}/heartbeat" in live and "stat" in live and "date" in live, live
    if "startupProbe" in c:
        assert d in " ".join(c["startupProbe"]["exec"]["command"])


def check_env(fleet):
    """Every ${VAR} of pipeline.toml is set in the container, from a key the Secret has."""
    wanted = set(re.findall(r"(?<!\$)\$\{(\w+)\}", pipeline_text(fleet)))
    _, c = container(fleet)
    env = {e["name"]: e for e in c["env"]}
    assert wanted <= set(env), wanted - set(env)
    keys = set(one(fleet, "Secret")["stringData"])
    for e in env.values():
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        assert ref is None or ref["key"] in keys, f"{e['name']}: the Secret has no key {ref['key']}"


def check_secret(fleet):
    """The Secret holds placeholders only: each value's <...> parts taken out leave no data."""
    secret = one(fleet, "Secret")
    assert "data" not in secret, "base64 data: only stringData placeholders belong in the example"
    for key, value in secret["stringData"].items():
        assert re.search(r"<[^<>]+>", value), f"{key}: no <placeholder>"
        rest = re.sub(r"<[^<>]+>", "", value)
        assert re.fullmatch(r"(postgres(ql)?://:@:\d+/)?", rest), f"{key}: '{rest}' is left beside the placeholders"


def pipeline(fleet, out):
    text = pipeline_text(fleet)
    doc = tomllib.loads(text)
    assert len(doc["jobs"]) >= 3, "a fleet needs several [[jobs]] entries to spread"
    assert doc["state"]["url"] == "${AQUADUCT_STATE_DSN}", doc.get("state")
    with open(out, "w") as f:
        f.write(text)
    for var in sorted(set(re.findall(r"(?<!\$)\$\{(\w+)\}", text))):
        dummy = "postgres://aquaduct:dummy@127.0.0.1:5432/aquaduct" if var.endswith("_DSN") else "dummy"
        print(f"{var}={dummy}")


def options(fleet):
    """Every --option the Job passes the worker, one per line."""
    _, c = container(fleet)
    for a in c["args"]:
        if a.startswith("--"):
            print(a)


if __name__ == "__main__":
    what, fleet = sys.argv[1], sys.argv[2]
    if what == "pipeline":
        pipeline(fleet, sys.argv[3])
    elif what == "options":
        options(fleet)
    else:
        globals()["check_" + what](fleet)
