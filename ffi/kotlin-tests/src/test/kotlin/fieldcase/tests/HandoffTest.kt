// Referral handoff with no network, across the facade from Kotlin against a real server: two
// phones of two agencies enroll and sync once, then hand a referral over by QR codes (read in
// reverse order, one twice) with no network, the receiving phone accepts on the spot and shows
// its receipt back, and both sync afterwards; the server records one referral and one acceptance. Reading the same
// bundle again, a damaged code and a bundle for another agency are refused with their codes.
package fieldcase.tests

import fieldcase.DataSharingConsent
import fieldcase.FieldcaseException
import fieldcase.HandoffAssembler
import fieldcase.NewReferral
import fieldcase.ReferralStatus
import fieldcase.ServiceType
import fieldcase.Transition
import fieldcase.Urgency
import fieldcase.enrollWithInsecureFastKdf
import fieldcase.handoffQrChunks
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.assertThrows
import java.util.concurrent.TimeUnit

class HandoffTest {
    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    fun `a referral handed over by QR codes with no network is reconciled once`() = runBlocking {
        FieldcaseServer.start().use { server ->
            server.addAgency("iom_uga", "IOM Uganda")
            server.addAgency("iom_eth", "IOM Ethiopia")
            server.addAgency("ngo_x", "NGO X")
            val dir = workDir("handoff")
            suspend fun phone(agency: String, name: String) = enrollWithInsecureFastKdf(
                server.url, server.enrollmentCode(server.addCaseworker(agency, name)), name,
                dir.resolve("$name.db").toString(), PASSPHRASE, null,
            )
            val a = phone("iom_uga", "a")
            val b = phone("iom_eth", "b")
            val x = phone("ngo_x", "x")
            val caseId = a.createCase(
                sampleCase("Amina").copy(consentDataSharing = DataSharingConsent.Agencies(listOf("iom_eth"))),
            )
            a.sync(null)
            b.sync(null)
            x.sync(null)
            a.sync(null) // now holding every phone's key

            // --- No network from here: refer, make a bundle, show it as QR codes. ---
            val referralId = a.createReferral(
                NewReferral(
                    caseId = caseId, toAgency = "iom_eth", services = listOf(ServiceType.SHELTER),
                    reason = "Needs a safe bed tonight", urgency = Urgency.HIGH,
                    sharedFields = listOf("given_name", "sex", "nationality"),
                ),
            )
            val bundle = a.makeHandoffBundle(referralId, null)
            assertEquals("HandoffBundle { .. }", bundle.toString())
            val codes = handoffQrChunks(bundle.bytes)
            assertTrue(codes.size > 1)
            assertTrue(codes.all { it.size <= 287 }, "each fits a version 12 code at level M")

            val assembler = HandoffAssembler()
            for (code in codes.reversed()) assembler.add(code)
            assertEquals(codes.size.toUInt(), assembler.add(codes.first()).received, "a duplicate changes nothing")
            val damaged = codes.first().copyOf().also { it[20] = (it[20].toInt() xor 1).toByte() }
            assertEquals("chunk_damaged", assertThrows<FieldcaseException.Handoff> { assembler.add(damaged) }.code)
            assertTrue(assembler.missing().isEmpty())
            val scanned = assembler.bundle()!!
            assertArrayEquals(bundle.bytes, scanned)

            // --- Another agency's phone cannot read it; the receiving phone can, and accepts. ---
            val wrong = assertThrows<FieldcaseException.Handoff> { x.readHandoffBundle(scanned) }
            assertEquals("wrong_agency", wrong.code)
            val imported = b.readHandoffBundle(scanned)
            assertEquals(referralId, imported.referralId)
            assertEquals("iom_uga", imported.fromAgency)
            val onB = b.getCase(caseId).data
            assertEquals("Amina", onB.givenName)
            assertNull(onB.phone, "not shared, not in the bundle")
            val accepting = b.acceptReferral(referralId, null)
            assertEquals(ReferralStatus.ACCEPTED, accepting.expectedStatus)
            assertFalse(accepting.confirmed)
            val again = assertThrows<FieldcaseException.Handoff> { b.readHandoffBundle(scanned) }
            assertEquals("replayed", again.code)

            // --- The answer goes back as one QR code: the referring phone records it too. ---
            val receipt = b.makeHandoffReceipt(referralId)
            assertTrue(receipt.size <= 287)
            assertNull(a.handoffReported(referralId))
            assertEquals(Transition.ACCEPT, a.readHandoffReceipt(receipt))
            assertEquals(Transition.ACCEPT, a.handoffReported(referralId))

            // --- Back online, the receiving phone first. ---
            b.sync(null)
            a.sync(null)
            b.sync(null)
            for (phone in listOf(a, b)) {
                val referral = phone.listReferrals().single()
                assertEquals(ReferralStatus.ACCEPTED, referral.status)
                assertTrue(referral.confirmed)
                assertEquals(
                    listOf(null to ReferralStatus.SENT, Transition.ACCEPT to ReferralStatus.ACCEPTED),
                    phone.referralTimeline(referralId).map { it.transition to it.status },
                )
            }
            assertEquals(0uL, a.status().rejectedChanges)
            assertNull(a.handoffReported(referralId), "the server's status replaces the report")
        }
    }
}
