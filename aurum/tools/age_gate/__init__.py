"""The adults-only gate's offline side: measuring the shared faces and fitting the
detector (`python -m aurum train-age-gate`)."""
