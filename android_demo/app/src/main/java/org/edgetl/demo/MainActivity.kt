package org.edgetl.demo

import android.Manifest
import android.annotation.SuppressLint
import android.content.Intent
import android.content.pm.PackageManager
import android.content.res.Configuration
import android.net.Uri
import android.os.Bundle
import android.os.Handler
import android.os.Looper
import android.os.SystemClock
import android.provider.Settings as SystemSettings
import android.util.Log
import android.util.Size
import android.view.View
import android.view.accessibility.AccessibilityManager
import android.widget.Button
import android.widget.CheckBox
import android.widget.RadioGroup
import android.widget.SeekBar
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.core.resolutionselector.AspectRatioStrategy
import androidx.camera.core.resolutionselector.ResolutionSelector
import androidx.camera.core.resolutionselector.ResolutionStrategy
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import org.edgetl.decision.Decider
import org.edgetl.decision.Event
import org.edgetl.decision.KIND_ANNOUNCE
import org.edgetl.decision.SetupRules
import org.json.JSONObject
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * One screen: the camera looks for a banknote, the app speaks its value and vibrates its pattern.
 *
 * Threads: the camera analyzer, model loading and the Decider all run on [analysisExecutor]
 * (one thread, so no locking); speech, vibration and views on the main thread.
 *
 * Rotation and other screen changes do not restart the activity (android:configChanges in the
 * manifest): the camera, the model, its delegate and the Decider stay as they are, so a turned
 * phone neither reloads the model nor announces the same note again; only the camera's target
 * rotation follows the display ([onConfigurationChanged]).
 */
class MainActivity : ComponentActivity() {
    private lateinit var settings: Settings
    private lateinit var speaker: Speaker
    private lateinit var haptics: Haptics
    /** Null on the odd device without the service (getSystemService is @Nullable). */
    private var accessibility: AccessibilityManager? = null
    private lateinit var previewView: PreviewView
    private lateinit var repeatButton: Button
    private lateinit var statusText: TextView
    private lateinit var announcementText: TextView

    private val analysisExecutor: ExecutorService = Executors.newSingleThreadExecutor()

    // Analysis thread only.
    private var classifier: NoteClassifier? = null
    private var decider: Decider? = null
    private val frameFailures = FrameFailures()
    private val clockOrigin = SystemClock.elapsedRealtimeNanos()
    private var lastStatusNs = 0L

    // Main thread only.
    private var phrases: Phrases? = null
    private var patterns: Map<String, LongArray> = emptyMap()
    private var lastAnnouncement: String? = null
    private var lastLabel: String? = null
    private var backendName: String = ""
    private var currentBackend: Backend? = null
    private var inferenceMs: MovingAverage? = null
    private var cameraProvider: ProcessCameraProvider? = null
    private var preview: Preview? = null
    private var analysis: ImageAnalysis? = null
    private var cameraStarted = false
    private var openingSettings = false
    private var liveRegionToggle = false
    private val mainHandler = Handler(Looper.getMainLooper())

    private val requestCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) onCameraPermissionGranted() else explainPermissionDenied()
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        previewView = findViewById(R.id.preview)
        repeatButton = findViewById(R.id.repeat_button)
        statusText = findViewById(R.id.status_text)
        announcementText = findViewById(R.id.announcement_text)
        findViewById<Button>(R.id.settings_button).setOnClickListener { showSettings() }

        settings = Settings(this)
        haptics = Haptics(this)
        accessibility = getSystemService(AccessibilityManager::class.java)
        savedInstanceState?.let {
            lastAnnouncement = it.getString(KEY_LAST_ANNOUNCEMENT)
            lastLabel = it.getString(KEY_LAST_LABEL)
        }
        speaker = Speaker(this) { ok -> onSpeechReady(ok) }
        speaker.setLocale(Settings.localeFor(settings.language))
        loadPhrases(settings.language)

        repeatButton.setOnClickListener { onRepeat() }
        repeatButton.setOnLongClickListener {
            speakStatus()
            true
        }

        loadModel()
        if (hasCameraPermission()) onCameraPermissionGranted() else requestCamera.launch(Manifest.permission.CAMERA)
    }

    override fun onSaveInstanceState(outState: Bundle) {
        super.onSaveInstanceState(outState)
        // A restart the manifest does not absorb (e.g. a language change) keeps "repeat" working.
        outState.putString(KEY_LAST_ANNOUNCEMENT, lastAnnouncement)
        outState.putString(KEY_LAST_LABEL, lastLabel)
    }

    /** Rotation etc. (android:configChanges): keep everything, just tell the camera the new rotation. */
    override fun onConfigurationChanged(newConfig: Configuration) {
        super.onConfigurationChanged(newConfig)
        val rotation = previewView.display?.rotation ?: return
        preview?.setTargetRotation(rotation)
        analysis?.setTargetRotation(rotation)
    }

    override fun onStop() {
        super.onStop()
        speaker.stop()
        haptics.cancel()
    }

    override fun onDestroy() {
        super.onDestroy()
        mainHandler.removeCallbacksAndMessages(null)
        cameraProvider?.unbindAll()
        analysisExecutor.execute {
            classifier?.close()
            classifier = null
        }
        analysisExecutor.shutdown()
        speaker.shutdown()
    }

    // ------------------------------------------------------------------------------- camera

    private fun hasCameraPermission(): Boolean =
        ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED

    /** The one place that reacts to a granted permission: right label for TalkBack, camera on. */
    private fun onCameraPermissionGranted() {
        repeatButton.contentDescription = getString(R.string.repeat_button_description)
        if (!cameraStarted) startCamera()
    }

    private fun startCamera() {
        cameraStarted = true
        val future = ProcessCameraProvider.getInstance(this)
        future.addListener({
            try {
                val provider = future.get()
                cameraProvider = provider
                val preview = Preview.Builder().build()
                preview.setSurfaceProvider(previewView.surfaceProvider)
                this.preview = preview
                val analysis = ImageAnalysis.Builder()
                    // A note needs few pixels: ~640x480 keeps conversion cheap; the model sees input_size.
                    .setResolutionSelector(
                        ResolutionSelector.Builder()
                            .setAspectRatioStrategy(AspectRatioStrategy.RATIO_4_3_FALLBACK_AUTO_STRATEGY)
                            .setResolutionStrategy(
                                ResolutionStrategy(Size(640, 480), ResolutionStrategy.FALLBACK_RULE_CLOSEST_HIGHER_THEN_LOWER)
                            )
                            .build()
                    )
                    // Drop frames while the model is busy: always classify the newest view.
                    .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                    .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                    .build()
                analysis.setAnalyzer(analysisExecutor) { image -> analyze(image) }
                this.analysis = analysis
                provider.unbindAll()
                provider.bindToLifecycle(this, CameraSelector.DEFAULT_BACK_CAMERA, preview, analysis)
                announcementText.text = getString(R.string.point_camera)
            } catch (e: Exception) {
                Log.e(TAG, "camera start failed", e)
                cameraStarted = false
                showAndSay(spokenString(R.string.camera_error))
            }
        }, ContextCompat.getMainExecutor(this))
    }

    /** Analysis thread. Always closes the frame, so CameraX can deliver the next one. */
    private fun analyze(image: ImageProxy) {
        val c = classifier
        val d = decider
        if (c == null || d == null) {
            image.close()
            return
        }
        try {
            val probs = c.classify(image)
            frameFailures.success()
            val t = (SystemClock.elapsedRealtimeNanos() - clockOrigin) / 1e9
            val event = d.update(probs, t)
            val now = SystemClock.elapsedRealtimeNanos()
            if (now - lastStatusNs > 1_000_000_000L) {
                lastStatusNs = now
                runOnUiThread { refreshStatus() }
            }
            if (event != null) runOnUiThread { onEvent(event) }
        } catch (e: Exception) {
            Log.e(TAG, "frame failed on ${c.backend}", e)
            onFrameFailed(c, e)
        } finally {
            image.close()
        }
    }

    /** Analysis thread. A few failed frames in a row are said out loud; the model moves to the CPU. */
    private fun onFrameFailed(c: NoteClassifier, e: Exception) {
        val action = frameFailures.failure(c.backend)
        if (action == FrameFailures.Action.NONE) return
        classifier = null
        decider = null
        c.close()
        val reason = e.message ?: e.javaClass.simpleName
        runOnUiThread {
            if (action == FrameFailures.Action.REOPEN_ON_CPU) {
                say(spokenString(R.string.recognition_failed_retry))
                loadModel(DelegateChoice.CPU)
            } else {
                showAndSay(spokenString(R.string.recognition_failed, reason))
            }
        }
    }

    // ------------------------------------------------------------------------------- model

    /** (Re)open the model with the current settings; frames are ignored until it is ready. */
    private fun loadModel(choice: DelegateChoice = settings.delegate) {
        statusText.text = getString(R.string.status_loading)
        val override = settings.thresholdOverride
        val hint = settings.holdSteadyHint
        currentBackend = null
        inferenceMs = null
        analysisExecutor.execute {
            classifier?.close()
            classifier = null
            decider = null
            try {
                val c = NoteClassifier.open(applicationContext, choice)
                val d = try {
                    DecisionSetup.decider(c.card, override, hint)
                } catch (e: IllegalArgumentException) {
                    c.close() // e.g. the card's announce_threshold is not a probability
                    throw e
                }
                val p = Vibrations.forLabels(c.card.labels, c.card.deciderBackground)
                classifier = c
                decider = d
                frameFailures.success()
                runOnUiThread { onModelReady(c, p) }
            } catch (e: NoModelException) {
                Log.e(TAG, e.message ?: "no model")
                runOnUiThread {
                    say(spokenString(R.string.no_model))
                    statusText.text = getString(R.string.no_model_status)
                }
            } catch (e: Exception) {
                onModelFailed(e)
            } catch (e: LinkageError) { // LiteRT's own native library missing or broken
                onModelFailed(e)
            }
        }
    }

    private fun onModelFailed(e: Throwable) {
        Log.e(TAG, "model failed", e)
        val reason = e.message ?: e.javaClass.simpleName
        runOnUiThread { showAndSay(spokenString(R.string.model_error, reason)) }
    }

    private fun onModelReady(c: NoteClassifier, vibrations: Map<String, LongArray>) {
        patterns = vibrations
        inferenceMs = c.inferenceMs
        currentBackend = c.backend
        backendName = getString(
            when (c.backend) {
                Backend.GPU -> R.string.backend_gpu
                Backend.NNAPI -> R.string.backend_nnapi
                Backend.CPU -> R.string.backend_cpu
            }
        )
        refreshStatus()
        if (c.fallbackReason != null) {
            Log.w(TAG, "fell back to CPU: ${c.fallbackReason}")
            say(spokenString(R.string.fallback_notice))
        }
    }

    private fun refreshStatus() {
        val ms = inferenceMs?.mean ?: Double.NaN
        statusText.text = if (ms.isNaN()) backendName else getString(R.string.status_running, backendName, ms)
    }

    // ------------------------------------------------------------------------------- speech

    private fun loadPhrases(language: String) {
        val text = try {
            assets.open(Assets.PHRASES).use { it.readBytes().toString(Charsets.UTF_8) }
        } catch (e: java.io.IOException) {
            // No exported phrases.json yet: a minimal English table from the string resources.
            JSONObject().put("en", JSONObject().put("announce", getString(R.string.announce_template))).toString()
        }
        phrases = try {
            Phrases.parse(text, language)
        } catch (e: IllegalArgumentException) {
            Phrases.parse(text, Settings.LANG_EN)
        } catch (e: ModelCardException) {
            Log.e(TAG, "bad phrases.json", e)
            Phrases.parse(JSONObject().put("en", JSONObject().put("announce", getString(R.string.announce_template))).toString(), "en")
        }
    }

    private fun onSpeechReady(ok: Boolean) {
        if (!ok) {
            statusText.text = getString(R.string.speech_unavailable)
            return
        }
        if (settings.language != Settings.LANG_EN && !speaker.languageAvailable) {
            // The Hindi voice is not installed: speak English words with the English voice.
            loadPhrases(Settings.LANG_EN)
            say(spokenString(R.string.voice_missing))
        }
    }

    /** Language of what the app says right now (English when the chosen voice is missing). */
    private val spokenLanguage: String
        get() = phrases?.lang ?: settings.language

    /** A string resource in the spoken language, whatever the phone's UI language is. */
    private fun spokenString(id: Int, vararg args: Any): String {
        val conf = Configuration(resources.configuration)
        conf.setLocale(Settings.localeFor(spokenLanguage))
        return createConfigurationContext(conf).resources.getString(id, *args)
    }

    private fun talkBackOn(): Boolean {
        val a = accessibility ?: return false
        return a.isEnabled && a.isTouchExplorationEnabled
    }

    /**
     * Say [text] once: with the app's TextToSpeech (QUEUE_FLUSH), or, when the user chose to hear
     * announcements through TalkBack (or TextToSpeech is unavailable) and TalkBack is running,
     * through an assertive live region, which TalkBack reads at once, interrupting older speech.
     * [onSpoken] runs when the app's own speech has ended; returns false when it cannot know
     * (TalkBack speaks), so the caller waits instead.
     */
    private fun say(text: String, onSpoken: (() -> Unit)? = null): Boolean {
        val throughTalkBack = talkBackOn() && (settings.speakThroughTalkBack || !speaker.isReady)
        if (throughTalkBack) {
            announcementText.accessibilityLiveRegion = View.ACCESSIBILITY_LIVE_REGION_ASSERTIVE
            // A live region speaks on change only; alternate an invisible suffix so a repeat is spoken too.
            liveRegionToggle = !liveRegionToggle
            announcementText.text = if (liveRegionToggle) text else "$text\u200B"
            return false
        }
        announcementText.accessibilityLiveRegion = View.ACCESSIBILITY_LIVE_REGION_NONE
        announcementText.text = text
        speaker.speak(text, onSpoken)
        return true
    }

    /**
     * Say [text], then run [action] once it has been said: at the end of the app's own speech, or
     * after [SpeechTiming.waitMs] when TalkBack reads it; a safety timeout covers an engine that
     * never reports the end. Nothing runs after the activity is gone.
     */
    private fun sayThen(text: String, action: () -> Unit) {
        var done = false
        val once = {
            if (!done && !isFinishing && !isDestroyed) {
                done = true
                action()
            }
        }
        val heard = say(text, once)
        mainHandler.postDelayed({ once() }, if (heard) SpeechTiming.SAFETY_MS else SpeechTiming.waitMs(text))
    }

    private fun showAndSay(text: String) {
        statusText.text = text
        say(text)
    }

    private fun onEvent(event: Event) {
        val p = phrases ?: return
        if (event.kind == KIND_ANNOUNCE) {
            val text = p.phraseFor(event.label)
            lastAnnouncement = text
            lastLabel = event.label
            patterns[event.label]?.let { haptics.play(it) }
            say(text)
        } else {
            say(p.text("hold_steady", spokenString(R.string.hold_steady)))
        }
    }

    private fun onRepeat() {
        if (!hasCameraPermission()) {
            askAgainOrOpenSettings()
            return
        }
        val text = lastAnnouncement
        if (text == null) {
            say(phrases?.text("repeat_none", spokenString(R.string.repeat_none)) ?: spokenString(R.string.repeat_none))
        } else {
            lastLabel?.let { label -> patterns[label]?.let { haptics.play(it) } }
            say(text)
        }
    }

    /** Long-press: which accelerator runs the model and how fast, spoken on request. */
    private fun speakStatus() {
        val ms = inferenceMs?.mean ?: Double.NaN
        val backend = spokenString(
            when (currentBackend) {
                Backend.GPU -> R.string.backend_gpu
                Backend.NNAPI -> R.string.backend_nnapi
                Backend.CPU -> R.string.backend_cpu
                null -> R.string.status_loading
            }
        )
        val text = if (ms.isNaN()) spokenString(R.string.status_spoken_no_ms, backend)
        else spokenString(R.string.status_spoken, backend, ms.toInt())
        say(text)
    }

    // ------------------------------------------------------------------------------- permission

    private fun explainPermissionDenied() {
        repeatButton.contentDescription = getString(R.string.permission_button_description)
        showAndSay(spokenString(R.string.camera_permission_denied))
    }

    private fun askAgainOrOpenSettings() {
        if (shouldShowRequestPermissionRationale(Manifest.permission.CAMERA)) {
            requestCamera.launch(Manifest.permission.CAMERA)
        } else if (!openingSettings) {
            // "Don't ask again" (or denied twice): only the system settings can grant it now. The
            // instructions are said in full first: opening the settings stops this activity, and
            // onStop silences the speaker.
            openingSettings = true
            sayThen(spokenString(R.string.camera_permission_settings)) {
                openingSettings = false
                startActivity(
                    Intent(SystemSettings.ACTION_APPLICATION_DETAILS_SETTINGS, Uri.fromParts("package", packageName, null))
                )
            }
        }
    }

    override fun onResume() {
        super.onResume()
        // Back from the system settings with the permission now granted.
        if (hasCameraPermission()) onCameraPermissionGranted()
    }

    // ------------------------------------------------------------------------------- settings

    @SuppressLint("InflateParams")
    private fun showSettings() {
        val view = layoutInflater.inflate(R.layout.dialog_settings, null)
        val delegateGroup = view.findViewById<RadioGroup>(R.id.delegate_group)
        val languageGroup = view.findViewById<RadioGroup>(R.id.language_group)
        val useCard = view.findViewById<CheckBox>(R.id.threshold_use_card)
        val seek = view.findViewById<SeekBar>(R.id.threshold_seek)
        val seekLabel = view.findViewById<TextView>(R.id.threshold_value)
        val talkBack = view.findViewById<CheckBox>(R.id.talkback_route)
        val hint = view.findViewById<CheckBox>(R.id.hint_enabled)

        val delegateIds = mapOf(
            DelegateChoice.AUTO to R.id.delegate_auto,
            DelegateChoice.GPU to R.id.delegate_gpu,
            DelegateChoice.NNAPI to R.id.delegate_nnapi,
            DelegateChoice.CPU to R.id.delegate_cpu
        )
        delegateGroup.check(delegateIds.getValue(settings.delegate))
        languageGroup.check(if (settings.language == Settings.LANG_HI) R.id.language_hi else R.id.language_en)

        // SeekBar 0..49 <-> 50..99 %, stored as whole percent (ThresholdSetting): no drift on reopening
        val percent = settings.thresholdPercent
        useCard.isChecked = percent == null
        seek.max = ThresholdSetting.MAX_PROGRESS
        seek.progress = ThresholdSetting.progressOf(percent ?: ThresholdSetting.percentOf(SetupRules.DEFAULT_THRESHOLD))
        fun showSeek() {
            seekLabel.text = getString(R.string.threshold_value, ThresholdSetting.percentAt(seek.progress))
            seek.isEnabled = !useCard.isChecked
            seek.contentDescription = seekLabel.text
        }
        showSeek()
        useCard.setOnCheckedChangeListener { _, _ -> showSeek() }
        seek.setOnSeekBarChangeListener(object : SeekBar.OnSeekBarChangeListener {
            override fun onProgressChanged(bar: SeekBar, progress: Int, fromUser: Boolean) = showSeek()
            override fun onStartTrackingTouch(bar: SeekBar) {}
            override fun onStopTrackingTouch(bar: SeekBar) {}
        })
        talkBack.isChecked = settings.speakThroughTalkBack
        hint.isChecked = settings.holdSteadyHint

        android.app.AlertDialog.Builder(this)
            .setTitle(R.string.settings_title)
            .setView(view)
            .setNegativeButton(android.R.string.cancel, null)
            .setPositiveButton(android.R.string.ok) { _, _ ->
                val newDelegate = delegateIds.entries.first { it.value == delegateGroup.checkedRadioButtonId }.key
                val newLanguage = if (languageGroup.checkedRadioButtonId == R.id.language_hi) Settings.LANG_HI else Settings.LANG_EN
                val newPercent = if (useCard.isChecked) null else ThresholdSetting.percentAt(seek.progress)
                val reloadModel = newDelegate != settings.delegate || newPercent != settings.thresholdPercent ||
                    hint.isChecked != settings.holdSteadyHint
                val newVoice = newLanguage != settings.language
                settings.delegate = newDelegate
                settings.language = newLanguage
                settings.thresholdPercent = newPercent
                settings.holdSteadyHint = hint.isChecked
                settings.speakThroughTalkBack = talkBack.isChecked
                if (newVoice) {
                    val ok = speaker.setLocale(Settings.localeFor(newLanguage))
                    loadPhrases(if (ok) newLanguage else Settings.LANG_EN)
                    if (!ok) say(spokenString(R.string.voice_missing))
                }
                if (reloadModel) loadModel()
                say(spokenString(R.string.settings_saved))
            }
            .show()
    }

    private companion object {
        const val TAG = "edgetl.Main"
        const val KEY_LAST_ANNOUNCEMENT = "last_announcement"
        const val KEY_LAST_LABEL = "last_label"
    }
}
