/// Rate limits, cluster-wide (docs/health.md, docs/membership.md): the pure part of how a runtime account seen
/// rate-limited on one node keeps every node's Mayor from placing work on it until its reset.
///
/// - **Account.** A node's account for a runtime is its custom label `account.<runtime>` when it has one, else the
///   runtime's name: by default every node shares one login per runtime (Gas Town's users log in once), so a
///   limit seen anywhere holds everywhere; a node with its own login says so with the label.
/// - **Publishing.** A node publishes each limited account of its own as the reserved custom label
///   `gt.rate-limit.<account>` = `<reset, whole Unix seconds>` in its membership metadata. Custom labels are in
///   every codec version, so an older node decodes them (it sees one more label); `Placement.RateLimits.split`
///   keeps them out of the placement labels of a newer one.
/// - **The cluster's view.** The union of every member's published limits (any member status: the limit is the
///   account's, not the node's), the latest reset per account, those past `now` dropped.
///
/// A caseless namespace of pure functions; no clock (time comes in `now`), no I/O.
extension Placement {
    /// One limited runtime account as the cluster knows it. `Sendable`: a plain value.
    public struct AccountLimit: Sendable, Hashable {
        public var account: String
        /// When it resets, Unix seconds.
        public var until: Double
        /// The node that published it (the one with the latest reset when several did).
        public var node: String

        public init(account: String, until: Double, node: String) {
            self.account = account
            self.until = until
            self.node = node
        }
    }

    /// The membership-metadata form of rate limits and the account rules. A caseless namespace; pure.
    public enum RateLimits {
        /// The reserved custom-label prefix of a published limit: `gt.rate-limit.<account>` = reset seconds.
        public static let labelPrefix = "gt.rate-limit."
        /// The custom-label prefix naming a node's own account for a runtime: `account.<runtime>` = account.
        public static let accountLabelPrefix = "account."

        /// The labels publishing `limits` (account → reset, Unix seconds; rounded up to whole seconds, so the
        /// limit never ends early). Accounts whose label would not be valid label text are left out.
        public static func labels(_ limits: [String: Double]) -> [String: String] {
            var out: [String: String] = [:]
            for (account, until) in limits where until.isFinite && until > 0 {
                let key = labelPrefix + account
                guard isLabelText(Substring(key)), !account.isEmpty else { continue }
                out[key] = String(Int64(until.rounded(.up)))
            }
            return out
        }

        /// A node's custom labels split into its placement labels (the reserved ones removed) and the limits it
        /// publishes (a reserved label whose value is not a whole number of seconds is dropped).
        public static func split(_ custom: [String: String]) -> (labels: [String: String], limits: [String: Double]) {
            var labels: [String: String] = [:]
            var limits: [String: Double] = [:]
            for (key, value) in custom {
                guard key.hasPrefix(labelPrefix) else {
                    labels[key] = value
                    continue
                }
                let account = String(key.dropFirst(labelPrefix.count))
                if !account.isEmpty, let seconds = Int64(value), seconds > 0 { limits[account] = Double(seconds) }
            }
            return (labels, limits)
        }

        /// The account a node with `labels` uses for `runtime`: its `account.<runtime>` label, else the runtime's
        /// name (one login shared by the cluster).
        public static func account(runtime: String, labels: [String: String]) -> String {
            if let own = labels[accountLabelPrefix + runtime], !own.isEmpty { return own }
            return runtime
        }

        /// The cluster's limits at `now` from what each node publishes (node → account → reset): per account the
        /// latest reset, ties to the smaller node name; resets at or before `now` are over.
        public static func cluster(_ published: [String: [String: Double]], now: Double) -> [String: AccountLimit] {
            var out: [String: AccountLimit] = [:]
            for node in published.keys.sorted() {
                for (account, until) in published[node]! where until > now {
                    if let known = out[account], known.until >= until { continue }
                    out[account] = AccountLimit(account: account, until: until, node: node)
                }
            }
            return out
        }

        /// `seconds` (Unix) as `2026-12-04T21:30:00Z`, for messages.
        public static func utc(_ seconds: Double) -> String {
            let total = Int64(seconds.rounded(.up))
            let days = total >= 0 ? total / 86400 : (total - 86399) / 86400
            let secondOfDay = total - days * 86400
            // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
            let z = days + 719_468
            let era = (z >= 0 ? z : z - 146_096) / 146_097
            let doe = z - era * 146_097
            let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
            let mp = (5 * doy + 2) / 153
            let day = doy - (153 * mp + 2) / 5 + 1
            let month = mp < 10 ? mp + 3 : mp - 9
            let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
            func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
            return "\(year)-\(two(month))-\(two(day))T\(two(secondOfDay / 3600)):\(two(secondOfDay % 3600 / 60))"
                + ":\(two(secondOfDay % 60))Z"
        }
    }
}
