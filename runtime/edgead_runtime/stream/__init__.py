"""The camera-stream service behind ``edgead-runtime run``: capture, inference and sinks on their own threads.

Import ``.pipeline`` for ``run_stream``; this package file stays empty so ``--help`` loads no engine or cv2.
"""
