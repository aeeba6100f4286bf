"""Pages about sweeps: Plotly figures built from trial records, and the HTML page that shows them (report and live view)."""
