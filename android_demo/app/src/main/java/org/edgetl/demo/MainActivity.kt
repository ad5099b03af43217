package org.edgetl.demo

import android.Manifest
import android.annotation.SuppressLint
import android.content.Intent
import android.content.pm.PackageManager
import android.content.res.Configuration
import android.net.Uri
import android.os.Bundle
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
import org.json.JSONObject
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * One screen: the camera looks for a banknote, the app speaks its value and vibrates its pattern.
 *
 * Threads: the camera analyzer, model loading and the Decider all run on [analysisExecutor]
 * (one thread, so no locking); speech, vibration and views on the main thread.
 */
class MainActivity : ComponentActivity() {
    private lateinit var settings: Settings
    private lateinit var speaker: Speaker
    private lateinit var haptics: Haptics
    private lateinit var accessibility: AccessibilityManager
    private lateinit var previewView: PreviewView
    private lateinit var repeatButton: Button
    private lateinit var statusText: TextView
    private lateinit var announcementText: TextView

    private val analysisExecutor: ExecutorService = Executors.newSingleThreadExecutor()

    // Analysis thread only.
    private var classifier: NoteClassifier? = null
    private var decider: Decider? = null
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
    private var cameraRequested = false
    private var liveRegionToggle = false

    private val requestCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) startCamera() else explainPermissionDenied()
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
        speaker = Speaker(this) { ok -> onSpeechReady(ok) }
        speaker.setLocale(Settings.localeFor(settings.language))
        loadPhrases(settings.language)

        repeatButton.setOnClickListener { onRepeat() }
        repeatButton.setOnLongClickListener {
            speakStatus()
            true
        }

        loadModel()
        if (hasCameraPermission()) startCamera() else requestCamera.launch(Manifest.permission.CAMERA)
    }

    override fun onStop() {
        super.onStop()
        speaker.stop()
        haptics.cancel()
    }

    override fun onDestroy() {
        super.onDestroy()
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

    private fun startCamera() {
        cameraRequested = true
        val future = ProcessCameraProvider.getInstance(this)
        future.addListener({
            try {
                val provider = future.get()
                cameraProvider = provider
                val preview = Preview.Builder().build()
                preview.setSurfaceProvider(previewView.surfaceProvider)
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
                provider.unbindAll()
                provider.bindToLifecycle(this, CameraSelector.DEFAULT_BACK_CAMERA, preview, analysis)
                announcementText.text = getString(R.string.point_camera)
            } catch (e: Exception) {
                Log.e(TAG, "camera start failed", e)
                showAndSay(spokenString(R.string.camera_error))
            }
        }, ContextCompat.getMainExecutor(this))
    }

    /** Analysis thread. Always closes the frame, so CameraX can deliver the next one. */
    private fun analyze(image: ImageProxy) {
        try {
            val c = classifier ?: return
            val d = decider ?: return
            val probs = c.classify(image)
            val t = (SystemClock.elapsedRealtimeNanos() - clockOrigin) / 1e9
            val event = d.update(probs, t)
            val now = SystemClock.elapsedRealtimeNanos()
            if (now - lastStatusNs > 1_000_000_000L) {
                lastStatusNs = now
                runOnUiThread { refreshStatus() }
            }
            if (event != null) runOnUiThread { onEvent(event) }
        } catch (e: Exception) {
            Log.e(TAG, "frame failed", e)
        } finally {
            image.close()
        }
    }

    // ------------------------------------------------------------------------------- model

    /** (Re)open the model with the current settings; frames are ignored until it is ready. */
    private fun loadModel() {
        statusText.text = getString(R.string.status_loading)
        val choice = settings.delegate
        val override = settings.thresholdOverride
        currentBackend = null
        inferenceMs = null
        analysisExecutor.execute {
            classifier?.close()
            classifier = null
            decider = null
            try {
                val c = NoteClassifier.open(applicationContext, choice)
                val d = DecisionSetup.decider(c.card, override)
                val p = Vibrations.forLabels(c.card.labels, c.card.deciderBackground)
                classifier = c
                decider = d
                runOnUiThread { onModelReady(c, p) }
            } catch (e: Exception) {
                Log.e(TAG, "model failed", e)
                val reason = e.message ?: e.javaClass.simpleName
                runOnUiThread { showAndSay(spokenString(R.string.model_error, reason)) }
            }
        }
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

    private fun talkBackOn(): Boolean = accessibility.isEnabled && accessibility.isTouchExplorationEnabled

    /**
     * Say [text] once: with the app's TextToSpeech (QUEUE_FLUSH), or, when the user chose to hear
     * announcements through TalkBack (or TextToSpeech is unavailable) and TalkBack is running,
     * through an assertive live region, which TalkBack reads at once, interrupting older speech.
     */
    private fun say(text: String) {
        val throughTalkBack = talkBackOn() && (settings.speakThroughTalkBack || !speaker.isReady)
        if (throughTalkBack) {
            announcementText.accessibilityLiveRegion = View.ACCESSIBILITY_LIVE_REGION_ASSERTIVE
            // A live region speaks on change only; alternate an invisible suffix so a repeat is spoken too.
            liveRegionToggle = !liveRegionToggle
            announcementText.text = if (liveRegionToggle) text else "$text\u200B"
        } else {
            announcementText.accessibilityLiveRegion = View.ACCESSIBILITY_LIVE_REGION_NONE
            announcementText.text = text
            speaker.speak(text)
        }
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
        } else {
            // "Don't ask again" (or denied twice): only the system settings can grant it now.
            say(spokenString(R.string.camera_permission_settings))
            startActivity(
                Intent(SystemSettings.ACTION_APPLICATION_DETAILS_SETTINGS, Uri.fromParts("package", packageName, null))
            )
        }
    }

    override fun onResume() {
        super.onResume()
        // Back from the system settings with the permission now granted.
        if (hasCameraPermission() && !cameraRequested) {
            repeatButton.contentDescription = getString(R.string.repeat_button_description)
            startCamera()
        }
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

        val delegateIds = mapOf(
            DelegateChoice.AUTO to R.id.delegate_auto,
            DelegateChoice.GPU to R.id.delegate_gpu,
            DelegateChoice.NNAPI to R.id.delegate_nnapi,
            DelegateChoice.CPU to R.id.delegate_cpu
        )
        delegateGroup.check(delegateIds.getValue(settings.delegate))
        languageGroup.check(if (settings.language == Settings.LANG_HI) R.id.language_hi else R.id.language_en)

        // SeekBar 0..49 <-> threshold 0.50..0.99
        val override = settings.thresholdOverride
        useCard.isChecked = override == null
        seek.max = 49
        seek.progress = (((override ?: DecisionSetup.DEFAULT_THRESHOLD) - 0.5) * 100).toInt().coerceIn(0, 49)
        fun showSeek() {
            seekLabel.text = getString(R.string.threshold_value, 50 + seek.progress)
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

        android.app.AlertDialog.Builder(this)
            .setTitle(R.string.settings_title)
            .setView(view)
            .setNegativeButton(android.R.string.cancel, null)
            .setPositiveButton(android.R.string.ok) { _, _ ->
                val newDelegate = delegateIds.entries.first { it.value == delegateGroup.checkedRadioButtonId }.key
                val newLanguage = if (languageGroup.checkedRadioButtonId == R.id.language_hi) Settings.LANG_HI else Settings.LANG_EN
                val newThreshold = if (useCard.isChecked) null else (50 + seek.progress) / 100.0
                val reloadModel = newDelegate != settings.delegate || newThreshold != settings.thresholdOverride
                val newVoice = newLanguage != settings.language
                settings.delegate = newDelegate
                settings.language = newLanguage
                settings.thresholdOverride = newThreshold
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
    }
}
