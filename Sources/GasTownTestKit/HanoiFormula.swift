/// Gas Town's generated Towers of Hanoi formulas (`scripts/gen_hanoi.py` of steveyegge/gastown, which wrote
/// `towers-of-hanoi-7/-9/-10.formula.toml`), reimplemented so tests and benchmarks can make any size: the same
/// recursive solution, the same text, byte for byte (the 10-disk file is 148,720 bytes with SHA-256
/// bbf4b2e3f027f3ade251a8bbbe9f0bfd6b515ad6d32d03c32b1e0fe65bb1ce8f). `disks` disks give 2^disks - 1 moves,
/// 2^disks + 1 steps: `setup`, `move-1` … `move-N`, `verify`, each needing the one before.
public enum HanoiFormula {
    /// The moves of the classic recursive solution from peg A to peg C: (disk, from, to).
    public static func moves(disks: Int) -> [(disk: Int, from: Character, to: Character)] {
        var moves: [(disk: Int, from: Character, to: Character)] = []
        moves.reserveCapacity((1 << disks) - 1)
        func solve(_ n: Int, _ source: Character, _ target: Character, _ auxiliary: Character) {
            if n == 1 {
                moves.append((1, source, target))
                return
            }
            solve(n - 1, source, auxiliary, target)
            moves.append((n, source, target))
            solve(n - 1, auxiliary, target, source)
        }
        if disks > 0 { solve(disks, "A", "C", "B") }
        return moves
    }

    /// The formula text `gen_hanoi.py <disks>` prints.
    public static func text(disks: Int) -> String {
        let moves = moves(disks: disks)
        let total = moves.count
        var out = #"""
            description = """
            AGENT EXECUTION PROTOCOL - Towers of Hanoi (\#(disks) disks, \#(total) moves)

            PURPOSE: This is a durability proof, not computation. Steps are pre-computed.
            Your job is to execute them mechanically, proving crash-recovery at scale.

            EXECUTION LOOP:
            1. Find current state: bd mol current <mol-id>
            2. Find the next ready (unblocked) step
            3. Close it: bd close <step-id>
            4. Repeat until no ready steps remain

            ON RESUME (after crash/restart/handoff):
            - Same as fresh start. The molecule IS the state.
            - Query `bd mol current <mol-id>`, continue from there.
            - No memory of previous session needed.

            DO:
            - Close steps as fast as possible (they're trivial mechanical moves)
            - Use `gt handoff` when context fills (proactive cycling)
            - Trust the pre-computed solution - every move is already correct

            DO NOT:
            - Try to solve Hanoi yourself - moves are already computed
            - Mark steps in_progress - just close them directly
            - Ask for permission - this is GUPP territory, just execute
            - Stop for human input - run autonomously until complete

            MONITORING:
            - Progress: Count closed children of the molecule
            - For mega-molecules: Use convoy dashboard when available
            - Completion: All steps closed = molecule complete

            This proves Gas Town can execute arbitrarily long workflows with
            nondeterministic idempotence - different sessions, same outcome.
            """
            formula = "towers-of-hanoi-\#(disks)"
            version = 1

            [[steps]]
            id = "setup"
            title = "Verify initial state"
            description = "All \#(disks) disks stacked on peg A. Largest on bottom."


            """#
        out.reserveCapacity(out.utf8.count + total * 150)
        for (i, move) in moves.enumerated() {
            let n = i + 1
            let previous = n == 1 ? "setup" : "move-\(n - 1)"
            out += "\n[[steps]]\nid = \"move-\(n)\"\ntitle = \"Move disk \(move.disk): \(move.from) → \(move.to)\"\n"
            out +=
                "description = \"Move disk \(move.disk) from peg \(move.from) to peg \(move.to). (Move \(n)/\(total))\"\n"
            out += "needs = [\"\(previous)\"]\n"
        }
        out += "\n[[steps]]\nid = \"verify\"\ntitle = \"Verify final state\"\n"
        out += "description = \"All \(disks) disks now on peg C. Tower intact, all moves were legal.\"\n"
        out += "needs = [\"move-\(total)\"]\n"
        return out
    }
}
