"""Reports built from a run directory alone: ``junit.xml`` for CI and ``report.html`` for people."""

from harness.report.html import render_html, write_html
from harness.report.junit import junit_suite, write_junit, write_suite_junit

__all__ = ["junit_suite", "render_html", "write_html", "write_junit", "write_suite_junit"]
