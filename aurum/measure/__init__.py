"""What is measured on a face: image decoding, landmarks, pose, the geometric components
and the quality metrics (each a spec with its formula), appearance and shape.
No learned model, no UI.
"""
