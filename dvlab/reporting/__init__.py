"""Presentation out: the report notebooks (:mod:`.notebooks`) and the charts they draw (:mod:`.charts`).

Nothing is imported here, so ``import dvlab.reporting`` starts no kernel and
loads neither Altair nor papermill.
"""
