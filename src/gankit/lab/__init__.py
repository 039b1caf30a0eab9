"""``gankit lab``: watch and steer the GAN game live in the browser, driven by gankit's own trainer.

* :mod:`gankit.lab.frames`: the frame maths (D on a grid, -dL_G/dx, D* = p_r/(p_r+p_g), G's manifold).
* :mod:`gankit.lab.session`: one pane, a run built by ``build()`` and stepped by ``Trainer``.
* :mod:`gankit.lab.engine`: the training thread, its command queue and the newest-frame bus.
* :mod:`gankit.lab.controls`: the page's messages, size-limited and validated with the config's rules.
* :mod:`gankit.lab.server`: the Starlette / uvicorn server (page, websocket, GIF export).
* :mod:`gankit.lab.scenarios`, :mod:`gankit.lab.replay`, :mod:`gankit.lab.export`.

docs/lab.md documents the page, the frame fields and each scenario.
"""
