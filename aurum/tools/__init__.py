"""Offline commands, run by hand or by `python -m aurum <command>`: scoring files,
training the attractiveness model, building the reference, retest figures,
benchmarks and the model card. The app never imports them.
"""
