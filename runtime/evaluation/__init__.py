"""Quality evaluation (DESIGN.md section 9): the clip classifier, the measures, the table."""
