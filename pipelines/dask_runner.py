"""Beam's DaskRunner with the partition count of every step bounded: ``BoundedDaskRunner``.

Beam 2.77's DaskRunner turns each ``Flatten`` into ``dask.bag.concat`` (the partitions of the
inputs add up) and each ``GroupByKey`` into ``Bag.groupby`` (a task shuffle over as many
partitions as its input has, ~p·log p tasks per stage). Every ``CoGroupByKey`` is a Flatten and a
GroupByKey, so the partitions multiply along the graph: with ``--dask_npartitions 4`` a run
scheduled 29,140 tasks, 27,166 of them shuffle tasks, for 40 pages as for 200.

``BoundedDaskRunner`` builds the same dask graph, then merges the partitions of any step that has
more than ``--dask_npartitions`` (``Bag.repartition``, which concatenates neighbouring
partitions): the shuffles stay at the size the user asked for. Same elements, same results.

It uses Beam internals (the visitor ``DaskRunner.to_dask_bag_visitor`` returns and its ``bags``),
so ``runner.new_pipeline`` uses it only on the Beam versions it was tested on
(``version_guard``, "dask_partitions"); on others Beam's own DaskRunner runs, after one log line.
"""

from __future__ import annotations

from apache_beam.runners.dask.dask_runner import DaskRunner

__all__ = ["DEFAULT_PARTITIONS", "BoundedDaskRunner"]

#: Partitions when ``--dask_npartitions`` is not given (Beam then sizes them by element count).
DEFAULT_PARTITIONS = 4


class BoundedDaskRunner(DaskRunner):
    """``DaskRunner`` whose steps have at most ``--dask_npartitions`` partitions."""

    @staticmethod
    def to_dask_bag_visitor(bag_kwargs=None):
        visitor = DaskRunner.to_dask_bag_visitor(bag_kwargs)
        limit = (bag_kwargs or {}).get("npartitions") or DEFAULT_PARTITIONS
        translate = visitor.visit_transform

        def visit_transform(transform_node) -> None:
            translate(transform_node)
            bag = visitor.bags.get(transform_node)
            if bag is not None and bag.npartitions > limit:
                # The same key, so the order of ``bags`` (the runner computes its last value) holds.
                visitor.bags[transform_node] = bag.repartition(npartitions=limit)

        visitor.visit_transform = visit_transform
        return visitor
