"""The optional analysers `Engine` loads once (each can be missing and says why):
the face descriptor, the attractiveness model, CLIP, the reference population
and its opt-in store.
"""
