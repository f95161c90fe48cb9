/// Where a slung bead goes (docs/scheduling.md, DESIGN §6): the pure placement core the Mayor runs. Given what
/// the bead needs (rig, runtime, labels), the cluster's placement policy and the candidate nodes as membership
/// gossips them, it excludes the nodes that cannot take the bead, each with its reasons, ranks the rest by free
/// the record of their polecats for the bead's labels (capability routing, only a meaningful difference counts),
/// then free capacity then pressure (load, free memory), and orders them for the placer: one of the best three first
/// (drawn with the generator it is given), then the others in rank order, which is the order refusals fall back in.
///
/// A caseless namespace of pure functions; no clock, no I/O, no randomness it was not given.
public enum Placement {
    /// What the bead needs. `Sendable`: a plain value.
    public struct Request: Sendable, Hashable {
        /// The bead's ID (for messages only).
        public var bead: String
        /// The rig the bead is worked in.
        public var rig: String
        /// The runtime's name (`claude`, `exec`, …), nil when any node can start it (an `exec:` command line).
        public var runtime: String?
        /// Labels a node must carry (`--require gpu=true,region=eu`), key to value.
        public var require: [String: String]
        /// The bead's labels naming its kind of work (`skill:swift`; `Placement.skillLabels`): the nodes with the
        /// better record for them go first (capability routing). Empty: capacity alone orders.
        public var labels: [String]
        /// The runtime whose account the bead's session would use, for rate limits (`exec` included, which
        /// `runtime` leaves out); nil: `runtime`.
        public var accountRuntime: String?

        public init(
            bead: String, rig: String, runtime: String? = nil, require: [String: String] = [:], labels: [String] = [],
            accountRuntime: String? = nil
        ) {
            self.bead = bead
            self.rig = rig
            self.runtime = runtime
            self.require = require
            self.labels = labels
            self.accountRuntime = accountRuntime
        }
    }

    /// A node as the placer sees it, from its gossiped metadata. `Sendable`: a plain value.
    public struct Candidate: Sendable, Hashable {
        public var name: String
        /// Alive in membership (suspect counts as alive: it may still answer; failed and left do not).
        public var alive: Bool
        /// Its labels, flattened (`org`, `region`, `os`, `gpu` and the custom ones).
        public var labels: [String: String]
        /// Its agent slots in total.
        public var slots: Int
        /// Agents running on it now.
        public var running: Int
        /// Slots reserved for admitted beads whose sessions have not started.
        public var reserved: Int
        /// The rigs it has checked out.
        public var rigs: Set<String>
        /// The runtimes it can start; empty means it did not say (any runtime is accepted).
        public var runtimes: Set<String>
        /// True while it takes no new work.
        public var draining: Bool
        /// One-minute load average, thousandths.
        public var loadMilli: Int
        /// Free memory, bytes.
        public var freeMemory: UInt64
        /// Its polecats' CVs summed per bead label and runtime (capability routing); empty: no record.
        public var records: [RecordKey: Record]

        public init(
            name: String, alive: Bool = true, labels: [String: String] = [:], slots: Int, running: Int = 0,
            reserved: Int = 0, rigs: Set<String>, runtimes: Set<String> = [], draining: Bool = false,
            loadMilli: Int = 0, freeMemory: UInt64 = 0, records: [RecordKey: Record] = [:]
        ) {
            self.records = records
            self.name = name
            self.alive = alive
            self.labels = labels
            self.slots = slots
            self.running = running
            self.reserved = reserved
            self.rigs = rigs
            self.runtimes = runtimes
            self.draining = draining
            self.loadMilli = loadMilli
            self.freeMemory = freeMemory
        }

        /// Free capacity: slots minus running minus reserved (never below 0).
        public var free: Int { max(0, slots - running - reserved) }
    }

    /// Why a node cannot take the bead. `Sendable`: a plain value.
    public enum Exclusion: Sendable, Hashable, CustomStringConvertible {
        /// Membership does not see it alive.
        case notAlive
        /// It is draining.
        case draining
        /// The cluster's policy keeps the rig off it: rule `rule` wants label `key`=`value`.
        case policy(rule: String, key: String, value: String)
        /// It does not have the rig.
        case noRig(String)
        /// It cannot start the runtime.
        case noRuntime(String)
        /// It lacks a required label (`has` is its value of the key, if any).
        case missingLabel(key: String, value: String, has: String?)
        /// No free slot.
        case full(slots: Int, running: Int, reserved: Int)
        /// Its account for the bead's runtime is rate-limited until `until` (Unix seconds), as `seenOn` published.
        case rateLimited(account: String, runtime: String, until: Double, seenOn: String)

        public var description: String {
            switch self {
            case .notAlive: return "not alive"
            case .draining: return "draining"
            case .policy(let rule, let key, let value): return "policy \(rule) wants \(key)=\(value)"
            case .noRig(let rig): return "no rig \(rig)"
            case .noRuntime(let runtime): return "no runtime \(runtime)"
            case .missingLabel(let key, let value, let has):
                return has.map { "label \(key)=\($0), not \(value)" } ?? "no label \(key)=\(value)"
            case .full(let slots, let running, let reserved):
                return "full (\(slots) slots, \(running) running, \(reserved) reserved)"
            case .rateLimited(let account, let runtime, let until, let node):
                return "\(runtime) account \(account) rate-limited until \(RateLimits.utc(until)) (seen on \(node))"
            }
        }
    }

    /// The outcome for one bead. `Sendable`: a plain value.
    public struct Outcome: Sendable, Hashable {
        /// The nodes that can take it, best first (before the random pick).
        public var ranked: [String]
        /// The nodes that cannot, with every reason, by name.
        public var excluded: [String: [Exclusion]]
        /// True when the policy alone keeps the bead off every node: no change of load or labels will help,
        /// so the bead is refused (not queued).
        public var policyExcludesAll: Bool
        /// How many of `ranked`, from the first, share the best record for the bead's labels (nil: all of them):
        /// the placer's random pick stays among these.
        public var leaders: Int? = nil

        /// Whether some node can take it now.
        public var placeable: Bool { !ranked.isEmpty }

        /// When no node can take it and rate limits are in the way: the earliest reset among them (Unix
        /// seconds), when the bead may become placeable again. Nil otherwise.
        public var rateLimitedUntil: Double? {
            guard ranked.isEmpty else { return nil }
            return excluded.values.flatMap { $0 }.compactMap { e -> Double? in
                if case .rateLimited(_, _, let until, _) = e { return until }
                return nil
            }.min()
        }

        /// `ranked` with one of the best `among` moved first, drawn with `random`; the rest keep their order.
        public func order<G: RandomNumberGenerator>(among: Int = 3, using random: inout G) -> [String] {
            guard ranked.count > 1 else { return ranked }
            let k = min(max(1, among), ranked.count, max(1, leaders ?? ranked.count))
            let i = Int(random.next() % UInt64(k))
            var out = ranked
            let first = out.remove(at: i)
            out.insert(first, at: 0)
            return out
        }

        /// Why no node can take it, said in one sentence naming what is missing ("no node has label gpu=true").
        public var refusal: String {
            let all = excluded.keys.sorted()
            guard !all.isEmpty else { return "no node is in the cluster" }
            func every(_ test: (Exclusion) -> Bool) -> Bool { all.allSatisfy { excluded[$0]!.contains(where: test) } }
            if policyExcludesAll {
                let rules = Set(all.flatMap { excluded[$0]!.compactMap { e -> String? in
                    if case .policy(let rule, let key, let value) = e { return "\(rule) (\(key)=\(value))" }
                    return nil
                } }).sorted()
                return "the placement policy excludes every node: \(rules.joined(separator: ", "))"
            }
            var wanted: [String] = []
            for node in all {
                for case .missingLabel(let key, let value, _) in excluded[node]! where !wanted.contains("\(key)=\(value)") {
                    wanted.append("\(key)=\(value)")
                }
            }
            if !wanted.isEmpty && every({ if case .missingLabel = $0 { return true } else { return false } }) {
                let missing = wanted.sorted().filter { label in
                    all.allSatisfy { node in excluded[node]!.contains { e in
                        if case .missingLabel(let k, let v, _) = e { return "\(k)=\(v)" == label }
                        return false
                    } }
                }
                if missing.count == 1 { return "no node has label \(missing[0])" }
                if !missing.isEmpty { return "no node has labels \(missing.joined(separator: ", "))" }
                return "no node has every label of \(wanted.sorted().joined(separator: ","))"
            }
            if every({ if case .noRig = $0 { return true } else { return false } }),
                case .noRig(let rig)? = excluded[all[0]]!.first(where: { if case .noRig = $0 { true } else { false } })
            {
                return "no node has rig \(rig)"
            }
            if every({ $0 == .notAlive }) { return "no node is alive" }
            var limits: [(runtime: String, line: String)] = []
            for node in all {
                for case .rateLimited(let account, let runtime, let until, let seenOn) in excluded[node]! {
                    let line = "account \(account) until \(RateLimits.utc(until)) (seen on \(seenOn))"
                    if !limits.contains(where: { $0.line == line }) { limits.append((runtime, line)) }
                }
            }
            if let runtime = limits.first?.runtime, every({
                if case .rateLimited = $0 { return true } else { return $0 == .notAlive || $0 == .draining }
            }) {
                return "runtime \(runtime) is rate-limited on every node that could take it: "
                    + limits.map(\.line).sorted().joined(separator: "; ") + "; it waits until the limit resets"
            }
            if every({ $0 == .draining || $0 == .notAlive }) { return "every node is draining" }
            if every({ if case .full = $0 { return true } else { return $0 == .notAlive || $0 == .draining } }) {
                return "every node is full"
            }
            return "no node can take it: "
                + all.map { "\($0): \(excluded[$0]!.map(\.description).joined(separator: ", "))" }.joined(separator: "; ")
        }
    }

    /// Places the bead described by `request` among `candidates` under `policy`. `limits` are the cluster's
    /// rate-limited accounts (`RateLimits.cluster`) and `now` the wall clock they are judged at (Unix seconds): a
    /// node whose account for the bead's runtime is limited past `now` is excluded (`rateLimited`).
    public static func place(
        _ request: Request, policy: Policy = Policy(), candidates: [Candidate], limits: [String: AccountLimit] = [:],
        now: Double = 0
    ) -> Outcome {
        var ranked: [Candidate] = []
        var excluded: [String: [Exclusion]] = [:]
        var policyOnly = !candidates.isEmpty
        for node in candidates {
            var reasons: [Exclusion] = []
            if !node.alive { reasons.append(.notAlive) }
            if node.draining { reasons.append(.draining) }
            let byPolicy = policy.exclusions(rig: request.rig, labels: node.labels)
            reasons += byPolicy
            if byPolicy.isEmpty { policyOnly = false }
            if !node.rigs.contains(request.rig) { reasons.append(.noRig(request.rig)) }
            if let runtime = request.runtime, !node.runtimes.isEmpty, !node.runtimes.contains(runtime) {
                reasons.append(.noRuntime(runtime))
            }
            for (key, value) in request.require.sorted(by: { $0.key < $1.key }) where node.labels[key] != value {
                reasons.append(.missingLabel(key: key, value: value, has: node.labels[key]))
            }
            if node.free == 0 { reasons.append(.full(slots: node.slots, running: node.running, reserved: node.reserved)) }
            if let runtime = request.accountRuntime ?? request.runtime {
                let account = RateLimits.account(runtime: runtime, labels: node.labels)
                if let limit = limits[account], limit.until > now {
                    reasons.append(
                        .rateLimited(account: account, runtime: runtime, until: limit.until, seenOn: limit.node))
                }
            }
            if reasons.isEmpty { ranked.append(node) } else { excluded[node.name] = reasons }
        }
        ranked.sort(by: better)
        let skills = skillLabels(request.labels)
        let (order, leaders) = byRecord(ranked, labels: skills, runtime: request.runtime)
        return Outcome(
            ranked: order.map(\.name), excluded: excluded, policyExcludesAll: policyOnly,
            leaders: skills.isEmpty ? nil : leaders)
    }

    /// The capacity ranking: more free slots first, then lower load, then more free memory, then the name (the
    /// record for the bead's labels, `byRecord`, is applied over it).
    static func better(_ a: Candidate, _ b: Candidate) -> Bool {
        if a.free != b.free { return a.free > b.free }
        if a.loadMilli != b.loadMilli { return a.loadMilli < b.loadMilli }
        if a.freeMemory != b.freeMemory { return a.freeMemory > b.freeMemory }
        return a.name < b.name
    }

    /// The cluster's placement policy: rules that keep rigs on nodes with given labels (`rig X only on org=a`).
    /// Every node of a cluster should carry the same policy (town.json's `placement`); the placer applies its own.
    /// `Sendable`: a plain value.
    public struct Policy: Sendable, Hashable {
        /// One rule: beads of `rig` (`*`: every rig) go only to nodes carrying every label of `require`.
        public struct Rule: Sendable, Hashable {
            public var rig: String
            public var require: [String: String]
            public init(rig: String, require: [String: String]) {
                self.rig = rig
                self.require = require
            }
        }

        public var rules: [Rule]
        public init(rules: [Rule] = []) { self.rules = rules }

        /// The rules a node with `labels` breaks for a bead of `rig`.
        public func exclusions(rig: String, labels: [String: String]) -> [Exclusion] {
            var out: [Exclusion] = []
            for rule in rules where rule.rig == rig || rule.rig == "*" {
                for (key, value) in rule.require.sorted(by: { $0.key < $1.key }) where labels[key] != value {
                    out.append(.policy(rule: "rig \(rule.rig)", key: key, value: value))
                }
            }
            return out
        }
    }

    /// Why a `--require` list or a policy could not be read. `Sendable`: a plain value.
    public struct SyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Reads `gt sling --require` text: `key=value` pairs separated by commas (`gpu=true,region=eu`). Keys and
    /// values are non-empty, without spaces, `=` or `,`; a key given twice is an error.
    public static func parseRequirements(_ text: String) throws(SyntaxError) -> [String: String] {
        var out: [String: String] = [:]
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pieces.count == 2, isLabelText(pieces[0]), isLabelText(pieces[1]) else {
                throw SyntaxError(message: "'\(part)' is not key=value (like gpu=true,region=eu)")
            }
            let key = String(pieces[0])
            guard out[key] == nil else { throw SyntaxError(message: "label \(key) is required twice") }
            out[key] = String(pieces[1])
        }
        return out
    }

    static func isLabelText(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.count <= 128
            && text.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value != 0x7F && $0 != "=" && $0 != "," }
    }
}
