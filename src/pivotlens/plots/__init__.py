"""Every figure, drawn with matplotlib on the headless Agg backend from plain records."""
