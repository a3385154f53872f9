// The whole story from Kotlin, against a real `fieldcase serve` started here: an agency and two
// caseworkers, two enrolled phones, cases recorded and searched, a service and a note, a case
// referred to a partner agency's phone (which sees only what consent shares, and accepts), sync
// in both directions, a concurrent edit resolved, a lock, a revoked phone wiped by its next
// sync, and a server that goes away mid-shift.
package fieldcase.tests

import fieldcase.FieldcaseException
import fieldcase.FieldcaseStore
import fieldcase.NewReferral
import fieldcase.Party
import fieldcase.ReferralStatus
import fieldcase.RejectionCode
import fieldcase.Resolution
import fieldcase.RiskLevel
import fieldcase.SearchQuery
import fieldcase.ServiceData
import fieldcase.ServiceType
import fieldcase.Sex
import fieldcase.SyncObserver
import fieldcase.SyncProgress
import fieldcase.Transition
import fieldcase.Urgency
import fieldcase.enrollWithInsecureFastKdf
import fieldcase.isIdentifyingField
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.assertThrows
import java.nio.file.Files
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger

/** Records what a sync reports; optionally throws from every callback, as a buggy app might. */
class RecordingObserver(private val throwing: Boolean = false) : SyncObserver {
    val progress = CopyOnWriteArrayList<SyncProgress>()
    val wipes = AtomicInteger()

    override fun onProgress(progress: SyncProgress) {
        this.progress.add(progress)
        if (throwing) throw IllegalStateException("a bug in the app's progress bar")
    }

    override fun onRemoteWipe() {
        wipes.incrementAndGet()
        if (throwing) throw IllegalStateException("a bug in the app's wipe screen")
    }
}

class ScenarioTest {
    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    fun `two phones of one agency record, refer to a partner, sync, resolve a conflict, lock, and a revoked one is wiped`() = runBlocking {
        FieldcaseServer.start().use { server ->
            // --- The administrators: an agency with two caseworkers, a partner agency (a
            // shelter in Kenya) with one, and a code for each. ---
            server.addAgency("iom_uga", "IOM Uganda")
            server.addAgency("iom_ken", "IOM Kenya")
            val userA = server.addCaseworker("iom_uga", "Caseworker A")
            val userB = server.addCaseworker("iom_uga", "Caseworker B")
            val userK = server.addCaseworker("iom_ken", "Shelter caseworker")
            val dir = workDir("scenario")
            val pathA = dir.resolve("a.db")
            val pathB = dir.resolve("b.db")
            val pathK = dir.resolve("k.db")

            // --- Two phones enroll; each creates its store. ---
            val a: FieldcaseStore = enrollWithInsecureFastKdf(
                server.url, server.enrollmentCode(userA), "phone A", pathA.toString(), PASSPHRASE, null,
            )
            val b: FieldcaseStore = enrollWithInsecureFastKdf(
                server.url, server.enrollmentCode(userB), "phone B", pathB.toString(), PASSPHRASE, null,
            )
            val k: FieldcaseStore = enrollWithInsecureFastKdf(
                server.url, server.enrollmentCode(userK), "shelter phone", pathK.toString(), PASSPHRASE, null,
            )
            assertEquals("iom_uga", a.identity().agency)
            assertEquals("iom_ken", k.identity().agency)
            assertEquals(userA, a.identity().userId)
            assertTrue(Files.exists(pathA))

            // --- Lock, then unlock with a wrong and then the right passphrase. ---
            a.lock()
            assertTrue(a.isLocked())
            val wrong = assertThrows<FieldcaseException.WrongPassphrase> { runBlocking { a.unlock("guess", null) } }
            assertTrue(wrong.reason.contains("passphrase"))
            assertTrue(a.isLocked())
            a.unlock(PASSPHRASE, null)
            assertFalse(a.isLocked())

            // --- Record and search cases on A. ---
            val aminaId = a.createCase(sampleCase("Amina", phone = "+256 700 123456"))
            a.createCase(sampleCase("Grace", family = "Achieng"))
            assertEquals(2uL, a.countCases(null))
            val byName = a.search(SearchQuery.Name("amina okello"))
            assertEquals(listOf(aminaId), byName.map { it.id })
            val byPhone = a.search(SearchQuery.Phone("256700123456"))
            assertEquals(listOf(aminaId), byPhone.map { it.id })
            assertEquals("CaseData { .. }", byName[0].data.toString(), "toString shows no personal data")

            // --- A service and a note. ---
            a.addService(ServiceData(aminaId, ServiceType.SHELTER, "2024-06-02", "iom_uga", "Two nights"))
            a.addNote(aminaId, "Called; she is safe and wants to return home.", "2024-06-03")
            assertEquals(ServiceType.SHELTER, a.servicesOf(aminaId).single().data.serviceType)
            assertEquals(userA, a.notesOf(aminaId).single().author)

            // --- Refer Amina's case to the shelter, sharing only what her consent allows. ---
            // Her consent names no agency for identifying data: the picker offers none of it.
            val allowed = a.allowedSharedFields(aminaId, "iom_ken")
            assertTrue(allowed.containsAll(listOf("sex", "nationality", "categories")))
            assertFalse("given_name" in allowed || "phone" in allowed, "identifying fields need consent")
            assertTrue(allowed.none { it.startsWith("answers.") }, "form answers count as identifying")
            assertTrue(isIdentifyingField("phone"))
            assertFalse(isIdentifyingField("sex"))
            fun referral(shared: List<String>) = NewReferral(
                caseId = aminaId, toAgency = "iom_ken",
                services = listOf(ServiceType.SHELTER, ServiceType.PSYCHOSOCIAL),
                reason = "Needs a safe bed while her return is arranged", urgency = Urgency.HIGH,
                sharedFields = shared,
            )
            val tooMuch = assertThrows<FieldcaseException.Invalid> { a.createReferral(referral(listOf("sex", "phone"))) }
            assertEquals("shared_fields", tooMuch.problems.single().field)
            assertTrue(tooMuch.problems.single().reason.startsWith("phone identifies the person"))
            assertFalse(tooMuch.reason.contains("700"), "the message names the field, never the value")
            assertTrue(a.listReferrals().isEmpty(), "a refused referral writes nothing")

            val referralId = a.createReferral(referral(listOf("sex", "nationality", "categories")))
            val sent = a.getReferral(referralId)
            assertEquals(Party.SENDER, sent.party)
            assertEquals(ReferralStatus.SENT, sent.status)
            assertFalse(sent.confirmed, "the server has not seen it yet")
            assertEquals(listOf("categories", "nationality", "sex"), sent.sharedFields)
            assertEquals("ReferralRecord { .. }", sent.toString(), "toString shows no reason text")
            // The sender cannot accept its own referral: a typed exception, nothing queued.
            val notYours = assertThrows<FieldcaseException.NotAllowed> { a.acceptReferral(referralId, null) }
            assertTrue(notYours.reason.contains("only the receiving agency may accept"), notYours.reason)
            assertTrue(a.getReferral(referralId).pending.isEmpty())

            // --- Sync both phones: A pushes, B pulls. ---
            val observed = RecordingObserver()
            val pushed = a.sync(observed)
            assertEquals(5uL, pushed.pushed, "two cases, a service, a note, a referral")
            assertTrue(observed.progress.isNotEmpty())
            assertEquals(1.0, observed.progress.last().fraction)
            assertTrue(a.status().synced)

            // B's app has a buggy progress bar that throws: the sync goes on regardless.
            val pulled = b.sync(RecordingObserver(throwing = true))
            assertTrue(pulled.pulled >= 5uL, "the cases, the service, the note, the referral (and its status)")
            val onB = b.getCase(aminaId)
            assertEquals(a.getCase(aminaId).data, onB.data)
            assertEquals(listOf(aminaId), b.search(SearchQuery.Name("Amina")).map { it.id })
            assertEquals(1, b.servicesOf(aminaId).size)
            assertEquals(1, b.notesOf(aminaId).size)
            assertEquals(listOf(referralId), b.referralsOfCase(aminaId).map { it.id }, "B's agency sent it too")
            assertTrue(a.getReferral(referralId).confirmed, "the server has it")

            // --- The shelter's phone sees the referral arrive, with only the shared fields. ---
            k.sync(null)
            val received = k.listReferrals().single()
            assertEquals(referralId, received.id)
            assertEquals(Party.RECEIVER, received.party)
            assertEquals(ReferralStatus.SENT, received.status)
            assertEquals("iom_uga", received.fromAgency)
            assertEquals(setOf(ServiceType.SHELTER, ServiceType.PSYCHOSOCIAL), received.services.toSet())
            assertEquals(listOf(aminaId), k.listCases(null, 10u, 0u).map { it.id }, "only the referred case")
            val shared = k.getCase(aminaId)
            assertEquals("iom_uga", shared.ownerAgency)
            assertEquals(Sex.FEMALE, shared.data.sex)
            assertEquals("UGA", shared.data.nationality)
            assertNull(shared.data.givenName, "a name her consent does not share never arrives")
            assertNull(shared.data.phone)
            assertNull(shared.data.countryOfAssistance, "not asked for, not sent")
            assertEquals("{}", shared.data.answersJson)
            assertTrue(k.search(SearchQuery.Phone("256700123456")).isEmpty())

            // The shelter accepts; the sender sees it at its next sync.
            val accepting = k.acceptReferral(referralId, null)
            assertEquals(ReferralStatus.SENT, accepting.status)
            assertEquals(ReferralStatus.ACCEPTED, accepting.expectedStatus)
            assertEquals(listOf(Transition.ACCEPT), accepting.pending.map { it.transition })
            assertEquals(1uL, k.sync(null).transitionsApplied)
            assertEquals(ReferralStatus.ACCEPTED, k.getReferral(referralId).status)
            a.sync(null)
            val accepted = a.getReferral(referralId)
            assertEquals(ReferralStatus.ACCEPTED, accepted.status)
            assertEquals(
                listOf(null to ReferralStatus.SENT, Transition.ACCEPT to ReferralStatus.ACCEPTED),
                a.referralTimeline(referralId).map { it.transition to it.status },
            )
            assertEquals("iom_ken", a.referralTimeline(referralId).last().agency)

            // Both sides act at once, offline: the shelter completes it as A withdraws it. The
            // server applies what arrives first and refuses the other, saying why.
            k.completeReferral(referralId, null)
            a.cancelReferral(referralId, "She found a place with family")
            a.sync(null)
            assertEquals(1uL, k.sync(null).transitionsRefused)
            val raced = k.getReferral(referralId)
            assertEquals(ReferralStatus.CANCELLED, raced.status)
            assertTrue(raced.pending.isEmpty())
            val refusal = raced.lastRejection!!
            assertEquals(Transition.COMPLETE, refusal.transition)
            assertEquals(RejectionCode.STATUS_CHANGED, refusal.code)
            assertEquals(ReferralStatus.CANCELLED, refusal.currentStatus)
            assertTrue(refusal.explanation.contains("someone else changed the referral first"), refusal.explanation)
            assertEquals("She found a place with family", raced.statusReason)

            // --- A concurrent edit of one field on both phones, then a conflict resolved. ---
            val onA = a.getCase(aminaId)
            assertTrue(a.updateCase(onA, onA.data.copy(riskLevel = RiskLevel.HIGH)))
            assertTrue(b.updateCase(onB, onB.data.copy(riskLevel = RiskLevel.LOW)))
            a.sync(null)
            b.sync(null)
            a.sync(null)
            val conflictsA = a.listConflicts()
            assertEquals(listOf("risk_level"), conflictsA.map { it.field })
            assertEquals(1, b.listConflicts().size)
            assertEquals(a.getCase(aminaId).data.riskLevel, b.getCase(aminaId).data.riskLevel, "converged")
            val losing = conflictsA.single().losingValueJson
            a.resolveConflict(conflictsA.single(), Resolution.RESTORE)
            a.sync(null)
            b.sync(null)
            assertTrue(a.listConflicts().isEmpty())
            assertTrue(b.listConflicts().isEmpty(), "the resolution synced")
            val restored = b.getCase(aminaId).data.riskLevel
            assertEquals(losing, "\"${restored?.name?.lowercase()}\"")
            assertEquals(restored, a.getCase(aminaId).data.riskLevel)

            // --- Lock A: records are unreadable until it is unlocked. ---
            a.lock()
            assertThrows<FieldcaseException.Locked> { a.listCases(null, 100u, 0u) }
            assertThrows<FieldcaseException.Locked> { a.getCase(aminaId) }
            assertEquals(2uL, a.status().cases, "status reads while locked")

            // --- The administrator revokes B; its next sync wipes it. ---
            server.revokeDevice(b.identity().deviceId)
            val watcher = RecordingObserver()
            assertThrows<FieldcaseException.Revoked> { runBlocking { b.sync(watcher) } }
            assertEquals(1, watcher.wipes.get(), "the app heard about the wipe")
            assertTrue(b.isWiped())
            assertFalse(Files.exists(pathB), "the store file is gone")
            assertThrows<FieldcaseException.Wiped> { b.listCases(null, 10u, 0u) }

            // --- A's server goes away mid-shift: a typed, transient error, nothing lost. ---
            a.unlock(PASSPHRASE, null)
            a.createCase(sampleCase("Joy"))
            server.stop()
            val offline = assertThrows<FieldcaseException.Network> { runBlocking { a.sync(null) } }
            assertTrue(offline.isTransient())
            assertEquals(1uL, a.status().pendingChanges, "kept for the next sync")
            assertEquals(3uL, a.countCases(null))
            a.close()
            b.close()
            k.close()
        }
    }
}
