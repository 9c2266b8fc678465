"""What the three training scripts share: command line, run folder, resume, metrics, plots."""
