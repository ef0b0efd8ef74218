"""Learning platforms (LMS): read their submission downloads and grade templates, write what they import.

- :mod:`.records`: the platform-neutral record of one handed-in file;
- :mod:`.canvas`, :mod:`.moodle`, :mod:`.plain`: the download parsers;
- :mod:`.worksheet`: Canvas's gradebook CSV and Moodle's grading worksheet;
- :mod:`.collect`: a download into ``submitted/`` (newest wins, skips listed).
"""

from .records import LmsFile, Skipped

__all__ = ["LmsFile", "Skipped"]
