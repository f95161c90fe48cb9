import Testing
import Membership
import GasTownTestKit

@Test func scratch() {
    for (loss, spike) in [(0.05, 0.02), (0.05, 0.05), (0.10, 0.05)] {
        var deaths = 0, susp = 0
        for seed in 0..<UInt64(40) {
            var net = Sim.hostileNetwork
            net.lossRate = loss; net.spikeRate = spike
            var sim = MembershipSimulator(size: 8, seed: seed, network: net)
            sim.startAll()
            sim.run(for: .seconds(60))
            deaths += sim.deaths.count; susp += sim.suspicions
        }
        print("loss", loss, "spike", spike, "deaths", deaths, "suspicions", susp)
    }
}
