"""The live search tree: one line per node, filled lazily and updated in place.

Textual's ``Tree`` rebuilds its line list over every expanded node after each structural
change (FACTS.md: 531 ms at 10,000 expanded nodes), so this widget keeps that list short:
a subtree's lines exist only once the user opens it (or while the whole tree is small),
and a poll relabels or inserts just the nodes it names.
"""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from textual.binding import BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from tui.data import Changes, RunWatcher
from tui.format import node_label

# While the tree shows fewer lines than this, new nodes arrive expanded so the user sees
# the search grow; past it they arrive collapsed and open on demand.
AUTO_EXPAND_LINES = 1000


class RunTree(Tree[int]):
    """The run's nodes; each Textual node's ``data`` is the run node's id."""

    BINDINGS: ClassVar[list[BindingType]] = [("b", "cursor_best", "Best")]

    class NodeChosen(Message):
        """The cursor moved to a run node (or the node under it changed)."""

        def __init__(self, node_id: int) -> None:
            super().__init__()
            self.node_id = node_id

    def __init__(self, watcher: RunWatcher, *, id: str | None = None) -> None:
        super().__init__("nodes", id=id)
        self.show_root = False
        self.guide_depth = 3
        self.watcher = watcher
        self.shown: dict[int, TreeNode[int]] = {}  # run node id -> its line, for nodes materialised
        self.filled: set[int] = set()  # run nodes whose children have been materialised
        self._best_path: set[int] = set()
        self._chosen: int | None = None

    # -- building -------------------------------------------------------------------------------

    def on_mount(self) -> None:
        w = self.watcher
        self._best_path = set(w.best_path())
        small = len(w.rows) <= AUTO_EXPAND_LINES
        for node_id in w.children.get(None, []):
            self._show(self.root, node_id, expand=small)
        # In a large tree open the way to the best node; the rest waits for the user.
        if not small:
            for node_id in w.best_path()[:-1]:
                line = self.shown.get(node_id)
                if line is not None:
                    self._fill(line, node_id, expand=False)
                    line.expand()
        if w.best_id is not None and w.best_id in self.shown:
            best = self.shown[w.best_id]
            self._tree_lines  # noqa: B018 - the lines must exist for the cursor to land on one
            self.cursor_line = best._line
            # Scrolling needs the widget's size, known only after the first layout.
            self.call_after_refresh(self._scroll_to_cursor)

    def get_label_width(self, node: TreeNode[int]) -> int:
        # Tree measures every open line on each rebuild by rendering its label; the cell
        # length of the label plus the toggle icon is the same number at a fraction of the cost.
        return node._label.cell_len + (cell_len(self.ICON_NODE) if node._allow_expand else 0)

    def _scroll_to_cursor(self) -> None:
        if self.cursor_line >= 0:
            self.scroll_to_line(self.cursor_line, animate=False)

    def _show(self, parent: TreeNode[int], node_id: int, *, expand: bool) -> TreeNode[int]:
        kids = self.watcher.children.get(node_id, [])
        line = parent.add(self._label(node_id, shown_children=expand), data=node_id,
                          expand=expand, allow_expand=bool(kids))
        self.shown[node_id] = line
        if expand:
            self._fill(line, node_id, expand=True)
        return line

    def _fill(self, line: TreeNode[int], node_id: int, *, expand: bool) -> None:
        if node_id in self.filled:
            return
        self.filled.add(node_id)
        for child in self.watcher.children.get(node_id, []):
            if child not in self.shown:
                self._show(line, child, expand=expand)

    def _label(self, node_id: int, *, shown_children: bool | None = None):
        row = self.watcher.rows[node_id]
        if shown_children is None:
            line = self.shown.get(node_id)
            shown_children = line is not None and line.is_expanded and node_id in self.filled
        hidden = 0 if shown_children else len(self.watcher.children.get(node_id, []))
        return node_label(row, on_best_path=node_id in self._best_path, is_best=node_id == self.watcher.best_id,
                          hidden_children=hidden)

    def _relabel(self, node_id: int) -> None:
        line = self.shown.get(node_id)
        if line is not None and node_id in self.watcher.rows:
            line.set_label(self._label(node_id))

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[int]) -> None:
        node_id = event.node.data
        if node_id is not None and node_id not in self.filled:
            self._fill(event.node, node_id, expand=False)
        if node_id is not None:
            self._relabel(node_id)

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed[int]) -> None:
        if event.node.data is not None:
            self._relabel(event.node.data)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[int]) -> None:
        event.stop()
        node_id = event.node.data
        if node_id is not None and node_id != self._chosen:
            self._chosen = node_id
            self.post_message(self.NodeChosen(node_id))

    # -- updating -------------------------------------------------------------------------------

    def apply(self, changes: Changes) -> None:
        """Reflect one poll's changes, touching only the lines they name."""
        if not (changes.nodes_moved or changes.best_changed):
            return
        anchor = self._top_node()
        w = self.watcher
        relabel: set[int] = set(changes.changed)
        if changes.best_changed:
            new_path = set(w.best_path())
            relabel |= (set(changes.old_best_path) ^ new_path) | {w.best_id} | set(changes.old_best_path[-1:])
            self._best_path = new_path
        for node_id in changes.removed:
            line = self.shown.pop(node_id, None)
            if line is not None:
                line.remove()
            self.filled.discard(node_id)
        structural = bool(changes.removed)
        lines_now = len(self.shown)
        for node_id in changes.added:
            if node_id in self.shown:
                continue  # already drawn when its parent, new in the same poll, was filled
            parent_id = w.rows[node_id].parent_id
            if parent_id is None:
                self._show(self.root, node_id, expand=lines_now < AUTO_EXPAND_LINES)
                structural = True
            elif parent_id in self.filled and parent_id in self.shown:
                parent_line = self.shown[parent_id]
                parent_line.allow_expand = True
                self._show(parent_line, node_id, expand=lines_now < AUTO_EXPAND_LINES)
                structural = True
                relabel.add(parent_id)
            elif parent_id in self.shown:
                self.shown[parent_id].allow_expand = True
                relabel.add(parent_id)  # its "+N" count grew
            lines_now += 1
        relabel |= changes.removed_parents
        relabel -= set(changes.removed)
        for node_id in relabel:
            self._relabel(node_id)
        if structural and anchor is not None:
            self._keep_in_place(anchor)
        if self._chosen in relabel or (self._chosen is not None and self._chosen in changes.removed):
            self.post_message(self.NodeChosen(self._chosen))

    def _top_node(self) -> TreeNode[int] | None:
        """The node on the first visible line."""
        return self.get_node_at_line(int(self.scroll_offset.y))

    def _keep_in_place(self, top: TreeNode[int]) -> None:
        # Lines inserted above the viewport would push everything down; scroll by as much so
        # what the user is looking at stays where it was. The cursor follows its node itself.
        self._tree_lines  # noqa: B018 - rebuilds the line list now so the anchor's line is known
        if top.id in self._tree_nodes and top._line >= 0 and top._line != int(self.scroll_offset.y):
            self.scroll_to(y=top._line, animate=False, immediate=True)

    # -- actions --------------------------------------------------------------------------------

    @property
    def chosen(self) -> int | None:
        """The run node under the cursor."""
        node = self.cursor_node
        return None if node is None else node.data

    def reveal(self, node_id: int) -> None:
        """Open the way to a node and put the cursor on it."""
        for ancestor in self.watcher.path_to(node_id)[:-1]:
            line = self.shown.get(ancestor)
            if line is None:
                return
            self._fill(line, ancestor, expand=False)
            if not line.is_expanded:
                line.expand()
        line = self.shown.get(node_id)
        if line is not None:
            self._tree_lines  # noqa: B018 - the new lines must exist before the cursor can move there
            self.move_cursor(line, animate=False)

    def action_cursor_best(self) -> None:
        if self.watcher.best_id is not None:
            self.reveal(self.watcher.best_id)
