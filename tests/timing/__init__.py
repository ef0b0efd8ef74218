"""Tests of regnorm_lab.timing, one file per module (a package, so their names cannot clash with other folders')."""
