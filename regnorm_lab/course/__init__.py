"""Instructor tools of the regnorm-lab nbgrader course: ``python -m regnorm_lab.course --help``.

Modules: :mod:`.cli` (argparse commands), :mod:`.pipeline` (release, autograde,
feedback, export, collect, validate through nbgrader's Python API), :mod:`.status`
(the per-student status CSV), :mod:`.preprocessors` (the nbgrader preprocessors
the course config plugs in), :mod:`.authoring` (source notebooks from cell lists).
"""

__all__: list[str] = []
