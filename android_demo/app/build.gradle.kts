// The Android app. AGP 9 compiles the Kotlin sources itself (built-in Kotlin), so no
// org.jetbrains.kotlin.android plugin is applied here.
plugins {
    alias(libs.plugins.android.application)
}

android {
    namespace = "org.edgetl.demo"
    compileSdk = 36

    defaultConfig {
        applicationId = "org.edgetl.demo"
        minSdk = 24
        targetSdk = 36
        versionCode = 2
        versionName = "0.2.0"
        // ./gradlew connectedAndroidTest: app/src/androidTest (a phone or emulator must be attached)
        testInstrumentationRunner = "androidx.test.runner.AndroidJUnitRunner"
    }

    buildTypes {
        release {
            isMinifyEnabled = false
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    // .tflite files must stay uncompressed in the APK so NoteClassifier can memory-map them
    // straight from the asset (AssetManager.openFd fails on compressed entries).
    androidResources {
        noCompress += "tflite"
    }

    testOptions {
        unitTests.isReturnDefaultValues = true
    }
}

dependencies {
    implementation(project(":decision"))

    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.ktx)

    implementation(libs.camera.core)
    implementation(libs.camera.camera2)
    implementation(libs.camera.lifecycle)
    implementation(libs.camera.view)

    implementation(libs.litert)
    implementation(libs.litert.api) // the Interpreter API classes; named so all LiteRT pieces share one version
    implementation(libs.litert.gpu)
    implementation(libs.litert.gpu.api)
    implementation(libs.litert.support)

    // The pure helpers (Preprocess, Vibrations, ModelCard, Phrases, Delegates) are unit-tested on
    // the JVM; without Gradle, run_pure_tests.sh compiles the same tests with plain kotlinc.
    testImplementation(libs.junit)
    testImplementation(libs.android.json)

    // On a device: the bundled model, the decision and the delegate fallback (app/src/androidTest).
    androidTestImplementation(libs.junit)
    androidTestImplementation(libs.androidx.test.runner)
    androidTestImplementation(libs.androidx.test.ext.junit)
}
