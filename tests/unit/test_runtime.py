"""app.runtime.freeze_gc: start-up objects leave the collector's walks; later garbage is still collected."""
import gc
import weakref

from app.runtime import freeze_gc, post_worker_init


class Node:
    pass


def test_freeze_moves_existing_objects_out_of_collections_and_later_cycles_are_still_freed():
    before = gc.get_freeze_count()
    try:
        frozen = freeze_gc()
        # frozen objects freed since (another thread's garbage) leave the permanent generation
        assert before < gc.get_freeze_count() <= frozen
        # a reference cycle made after the freeze is garbage the collector still finds
        a, b = Node(), Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        del a, b
        gc.collect()
        assert ref() is None
    finally:
        gc.unfreeze()


def test_gunicorn_hook_freezes():
    gc.unfreeze()                       # start from nothing frozen, whatever ran before
    assert gc.get_freeze_count() == 0
    try:
        post_worker_init(worker=None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
