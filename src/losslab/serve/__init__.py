"""``losslab serve``: the judge in the browser for a class, with a database, a queue and a pool of graders.

Learners sign in with a code, read an exercise, edit its template in the browser and submit; submissions
wait in a queue in the database and are graded by separate grader processes (or on a Dask cluster) under
the judge's sandbox, never in the web process. Teachers create a class and its roster from the command line
and follow it in a gradebook. Nothing here is imported by ``import losslab``: it needs the ``serve`` extra
(``pip install "losslab[serve]"``).

Modules: :mod:`.db` (tables, migrations, sign-in codes), :mod:`.queue` (the submission queue),
:mod:`.graders` (the grader pool), :mod:`.codec` (reports stored as JSON), :mod:`.app` (pages and JSON API),
:mod:`.cli` (the commands).
"""
