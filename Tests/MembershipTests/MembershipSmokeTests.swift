import Testing
@testable import Membership

@Test func moduleLinks() {
    #expect(!MembershipModule.name.isEmpty)
}
