import Testing
import Membership
import GasTownTestKit
import Foundation

@Test func scratch() {
    var sim = MembershipSimulator(size: 8, seed: 1)
    sim.startAll()
    sim.run(for: .seconds(5))
    for a in 0..<8 {
        var line = "\(a):"
        for b in 0..<8 { line += " " + (sim.view(of: a, about: b).map { "\($0.status)/\($0.incarnation)" } ?? "-") }
        print(line)
    }
}
