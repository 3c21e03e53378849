"""The HTML report of a run (inline SVG plots), and writing or regenerating every report."""
