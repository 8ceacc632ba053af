"""pytest-xdist's ``loadgroup`` scheduling made to work for the suite (``tests/conftest.py``
installs both hooks)."""

from __future__ import annotations

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Give a test marked ``xdist_group(name)`` the node id suffix ``@name``, as xdist means to.

    pytest-xdist 3.8.0 groups tests by that suffix, which its test processes add by assigning
    ``item._nodeid``; pytest 9 derives ``item.nodeid`` from the structured ``item._id`` instead,
    so the suffix never appears and every test of a group is scheduled on its own, to either
    process (each of them then builds the group's module fixtures). Here the suffix is set on
    ``_id``; it is left alone where it is already there (a pytest-xdist that works).
    """
    if not getattr(config.option, "loadgroup", False):  # set in test processes only
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # a pytest that still reads item._nodeid: pytest-xdist's suffix works
        return
    for item in items:
        names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                        for mark in item.iter_markers("xdist_group")})
        if names and "@" not in item.nodeid:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(names)}")


def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's ``loadgroup`` scheduling, able to go on after a test process crashes.

    pytest-xdist 3.8.0 puts a crashed process's whole workload back in the queue, finished
    groups included, and gives the process that replaces it a single test: the run then waits
    for ever (pytest-xdist's GitHub issues 1323, 1327, 1378). Here only the unfinished tests
    go back, the test that crashed is not run again (xdist reports it as failed), and a process
    is told to finish once the queue is empty, so a crash fails the run instead of hanging it.
    Work sent to a process that has just died (its crash not yet handled) is not lost: it stays
    assigned to that process until its crash puts it back. A replacement process gets work only
    once its collection is in: work given to it before (when another process crashes while it
    starts) would raise ``KeyError`` inside ``remove_node``, which pytest-xdist swallows, losing
    the crashed test's report and the rest of the queue's rescheduling: the run then hangs.
    ``tests/test_scheduling.py`` crashes test processes on purpose to check this.
    """
    from xdist.scheduler import LoadGroupScheduling

    class Scheduling(LoadGroupScheduling):
        def remove_node(self, node):
            workload = self.assigned_work.pop(node)
            if not self._pending_of(workload):
                return None
            crashed = next(nodeid for unit in workload.values()
                           for nodeid, done in unit.items() if not done)
            for scope, unit in workload.items():
                if crashed in unit:
                    unit[crashed] = True
                if not all(unit.values()):
                    self.workqueue[scope] = unit
            for other in self.assigned_work:
                self._reschedule(other)
            return crashed

        def _assign_work_unit(self, node):
            try:
                super()._assign_work_unit(node)
            except OSError:
                # the process died after its last report and before its crash is handled:
                # the unit stays assigned to it, and remove_node puts it back in the queue
                pass

        def _reschedule(self, node):
            if node.shutting_down or node not in self.registered_collections:
                # a replacement still collecting is scheduled once its collection is in
                return
            while self.workqueue and self._pending_of(self.assigned_work[node]) <= 2:
                self._assign_work_unit(node)
            # a process runs a test once it knows the next one, or that there is none
            if not self.workqueue and self._pending_of(self.assigned_work[node]) <= 1:
                node.shutdown()

    return Scheduling(config, log)
