"""``junit.xml``: one test case per gate outcome, plus one per check that raised."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from audit.results import RunResults, atomic_write_text


def junit_xml(results: RunResults) -> str:
    suite_name = f"audit.{results.suite['name']}"
    cases = []
    for gate in results.gates:
        case = ET.Element("testcase", classname=f"{suite_name}.gates", name=gate.expression, time="0")
        if gate.status == "fail":
            ET.SubElement(case, "failure", message=gate.message, type="GateFailed").text = gate.message
        elif gate.status == "error":
            ET.SubElement(case, "error", message=gate.message, type="GateError").text = gate.message
        elif gate.status == "warn":
            ET.SubElement(case, "system-out").text = f"WARNING: {gate.message}"
        elif gate.status == "skipped":
            ET.SubElement(case, "skipped", message=gate.message)
        cases.append(case)
    for record in results.checks:
        case = ET.Element("testcase", classname=f"{suite_name}.checks", name=f"{record.model}/{record.check}", time=f"{record.duration_s:.3f}")
        if record.status == "error":
            ET.SubElement(case, "error", message=record.error or "", type="CheckError").text = record.error
        elif record.status == "skipped":
            ET.SubElement(case, "skipped", message=record.reason or "")
        elif record.warnings:
            ET.SubElement(case, "system-out").text = "\n".join(record.warnings)
        cases.append(case)
    failures = sum(1 for c in cases if c.find("failure") is not None)
    errors = sum(1 for c in cases if c.find("error") is not None)
    total_time = results.manifest.get("timings_s", {}).get("total", 0.0)
    root = ET.Element("testsuites", name="audit", tests=str(len(cases)), failures=str(failures), errors=str(errors), time=f"{total_time:.3f}")
    suite = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(cases)), failures=str(failures), errors=str(errors), skipped="0", time=f"{total_time:.3f}", timestamp=results.created_at)
    suite.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(results: RunResults, path: Path) -> None:
    atomic_write_text(path, junit_xml(results))
