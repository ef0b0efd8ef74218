"""nbgrader preprocessors of the regnorm-lab grading pipeline (configured in ``exercises/nbgrader_config.py``).

- :class:`StderrToStdout` (autograde, right after ``Execute``): warnings are not failures.
- :class:`HideHiddenTests` (generate_feedback, after ``GetGrades``): hidden tests stay hidden.
- :class:`CheckCellMetadataOnce` (the parallel ``grade`` workers): nbgrader's metadata
  check with its JSON schema compiled into a validator once per process.
"""

from __future__ import annotations

import functools
import json
import re
import textwrap
from typing import Any

from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import CheckCellMetadata, NbGraderPreprocessor

__all__ = ["StderrToStdout", "HideHiddenTests", "CheckCellMetadataOnce", "behaviour_of", "split_hidden", "OUR_FAILURE", "WARNING_BANNER", "VISIBLE_FAILED", "HIDDEN_FAILED", "MESSAGE_WIDTH"]

#: The exception class name whose message is ours (``CheckFailed`` of the in-kernel checks of old).
OUR_FAILURE = "CheckFailed"
#: ``ename`` of the error the grader (``judge.Judge``) writes for a failed visible / hidden check.
VISIBLE_FAILED = "Test failed"
HIDDEN_FAILED = "Hidden test failed"
#: Put before stderr text moved to stdout, so feedback still shows it as a warning.
#: Width a failed check's message is wrapped to (nbgrader's validate report cuts lines at 90 with its indent).
MESSAGE_WIDTH = 80
WARNING_BANNER = "[stderr output (a warning, not an error; it does not cost points)]\n"
BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def behaviour_of(source: str) -> str:
    """The behaviour a test cell checks: the text of its first ``# Test: ...`` comment line.

    Shape:
        A cell source string -> one line of words.
    """
    for line in source.splitlines():
        m = re.match(r"\s*#\s*Test:\s*(.+)", line)
        if m:
            return m.group(1).strip()
    return "an unnamed behaviour"


def split_hidden(source: str) -> tuple[str, list[str]]:
    """Split a test cell into its visible part and the lines of its hidden-test blocks.

    Shape:
        A cell source -> (visible source, hidden lines).
    """
    visible: list[str] = []
    hidden: list[str] = []
    inside = False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            inside = True
        elif END_HIDDEN in line:
            inside = False
        elif inside:
            hidden.append(line)
        else:
            visible.append(line)
    return "\n".join(visible).rstrip(), hidden


class StderrToStdout(NbGraderPreprocessor):
    """Move stderr stream outputs of graded test cells to stdout, marked as a warning.

    nbgrader's ``determine_grade`` gives a test cell 0 points as soon as it has any
    stderr output, so a correct answer that triggers a numpy/torch warning (or prints
    to ``sys.stderr``) would lose its points. Error outputs are left alone: an
    exception still fails the cell.

    A failed check (``CheckFailed``) keeps only its message, wrapped to
    :data:`MESSAGE_WIDTH` (``validate`` prints it whole, once, without helper frames).

    It also turns an ``execute_result`` of a test cell into ``display_data``: nbgrader
    reads such a value as *partial credit* and crashes on the whole notebook when it
    exceeds the cell's points. Course test cells award all or nothing.
    """

    def preprocess_cell(self, cell: NotebookNode, resources: dict[str, Any], cell_index: int) -> tuple[NotebookNode, dict[str, Any]]:
        if cell.cell_type != "code" or not utils.is_grade(cell) or utils.is_solution(cell):
            return cell, resources
        outputs = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                out = NotebookNode(output_type="stream", name="stdout", text=WARNING_BANNER + out.get("text", ""))
            elif out.get("output_type") == "execute_result":
                out = NotebookNode(output_type="display_data", data=out.get("data", {}), metadata=out.get("metadata", {}))
            elif out.get("output_type") == "error" and out.get("ename") == OUR_FAILURE:
                # a failed check is its message: no helper frames, wrapped so that no
                # report (nbgrader validate cuts lines at 90 characters) truncates it
                message = " ".join(str(out.get("evalue", "")).split())
                lines = textwrap.wrap(f"{OUR_FAILURE}: {message}", width=MESSAGE_WIDTH, break_long_words=False, break_on_hyphens=False)
                out = NotebookNode(output_type="error", ename=OUR_FAILURE, evalue=message, traceback=lines or [OUR_FAILURE])
            outputs.append(out)
        cell.outputs = outputs
        return cell, resources


class HideHiddenTests(NbGraderPreprocessor):
    """In feedback, replace each hidden test by its behaviour's name and our worded verdict.

    For a graded cell that contains a ``### BEGIN HIDDEN TESTS`` block: the source
    becomes its visible part plus ``# (hidden test: <behaviour>)``; an error output
    keeps only the message of a failed check (the one line :mod:`.judge` wrote, worded by
    the grader, never code or a traceback), any other error only its class name; any
    output line that contains a line of the hidden block is dropped, so a student's
    function that prints its caller's source learns nothing.
    """

    def preprocess_cell(self, cell: NotebookNode, resources: dict[str, Any], cell_index: int) -> tuple[NotebookNode, dict[str, Any]]:
        if cell.cell_type != "code" or BEGIN_HIDDEN not in cell.source:
            return cell, resources
        visible, hidden = split_hidden(cell.source)
        secrets = [s.strip() for s in hidden if s.strip() and not s.strip().startswith("#")]
        behaviour = behaviour_of(cell.source)
        cell.source = (visible + "\n" if visible else "") + f"# (hidden test: {behaviour})"

        def clean(text: str) -> str:
            kept = [ln for ln in _ANSI.sub("", text).split("\n") if not any(s in ln for s in secrets)]
            return "\n".join(kept)

        outputs = []
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "error":
                ename = out.get("ename")
                if ename in (VISIBLE_FAILED, HIDDEN_FAILED, OUR_FAILURE):
                    message = clean(str(out.get("evalue", ""))).strip() or "the check failed"
                else:
                    message = f"the test stopped with {ename or 'an error'} (details of hidden tests are not shown)"
                # the grader's verdict says which part failed: a visible check is not called hidden
                label = VISIBLE_FAILED if ename == VISIBLE_FAILED else f"{HIDDEN_FAILED} ({behaviour})"
                outputs.append(NotebookNode(output_type="error", ename=label, evalue=message, traceback=[f"{label}: {message}"]))
            elif kind == "stream":
                text = clean(out.get("text", ""))
                if text.strip():
                    outputs.append(NotebookNode(output_type="stream", name=out.get("name", "stdout"), text=text))
            # rich outputs of a hidden test (display/execute results) could show hidden data: dropped
        cell.outputs = outputs
        return cell, resources


class _JsonschemaOnce:
    """The ``jsonschema`` module as nbgrader's metadata validator sees it, with ``validate``
    through a validator compiled once per schema.

    ``jsonschema.validate`` checks the schema itself and builds a validator on every
    call, and nbgrader calls it for every cell, twice per notebook (~0.1 s a
    notebook). This ``validate`` does what ``jsonschema.validate`` does after that
    (best-matching error raised), so verdicts and messages are unchanged; nbgrader's
    own checks around it (schema version, grade ids, points) run as they are.
    """

    def __getattr__(self, name: str) -> Any:
        import jsonschema

        return getattr(jsonschema, name)

    @staticmethod
    def validate(instance: Any, schema: dict[str, Any]) -> None:
        import jsonschema

        error = jsonschema.exceptions.best_match(_compiled(json.dumps(schema, sort_keys=True)).iter_errors(instance))
        if error is not None:
            raise error


@functools.lru_cache(maxsize=8)
def _compiled(schema_json: str) -> Any:
    import jsonschema

    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


class CheckCellMetadataOnce(CheckCellMetadata):
    """nbgrader's ``CheckCellMetadata`` with the JSON schema compiled once per process (same verdicts)."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        import nbgrader.nbgraderformat.common as common

        # nbgrader's method as it is; only the jsonschema its validator calls is ours
        saved = common.jsonschema
        common.jsonschema = _JsonschemaOnce()  # type: ignore[assignment]
        try:
            return super().preprocess(nb, resources)
        finally:
            common.jsonschema = saved
