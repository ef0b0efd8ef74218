"""Instructor tools of the regnorm-lab nbgrader course: ``python -m regnorm_lab.course --help``.

- the command line: :mod:`.cli` (argparse commands), :mod:`.lms` (Canvas, Moodle
  and plain downloads in; ``collect``), :mod:`.export_formats`, :mod:`.feedback_zip`,
  :mod:`.late`, :mod:`.manual` (grades and feedback back out, due dates, hand
  grading and regrades);
- one grading path: :mod:`.pipeline` (release, autograde, feedback, export,
  validate through nbgrader's Python API), :mod:`.parallel` (``grade`` with
  workers or on Dask; :mod:`.grade_worker` one student's job, :mod:`.grade_backends`
  the local and Dask workers), :mod:`.prewarm` (the next kernels started while the
  current notebook runs; :mod:`.spares` the spare kernels themselves), :mod:`.kernel_death` (a dying kernel zeroes only the cells it broke), :mod:`.merge`, :mod:`.postgres`, :mod:`.status`,
  :mod:`.report`;
- isolation: :mod:`.sandbox` and :mod:`.sandbox_kernel` (bubblewrap around every
  kernel that runs student code), :mod:`.flags`, :mod:`.similarity` (flags for
  a human, never a zero);
- verdicts outside the student's process: :mod:`.probe` (the only course code a
  grading kernel imports: it runs the student's functions on generated inputs
  and emits the outputs as data), :mod:`.cases` (deterministic inputs, shared by
  kernel and grader), :mod:`.verdicts`, :mod:`.rules`, :mod:`.delegation`,
  :mod:`.judge` (the grader compares with the reference and decides the points);
  :mod:`.clock` and :mod:`.clock_kernel` (ps07's speed, timed by the grader in two
  fresh sandboxed kernels, the student's answers against the reference);
- authoring: :mod:`.authoring` (source notebooks from cell lists), :mod:`.preprocessors`.
"""

__all__: list[str] = []
