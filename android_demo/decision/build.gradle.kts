// Pure Kotlin/JVM library: the decision logic shared by the Android app (android_demo)
// and cross-checked against edgetl/runtime/decide.py through tests/vectors/decision.json.
// No Android dependencies, so it builds and tests on any JVM (`./gradlew :decision:test`
// from android_demo/); without Gradle, run ./run_tests.sh (plain kotlinc + JUnit4).
//
// The sources are written for Kotlin 1.3 so the Debian kotlinc can compile them; any
// newer Kotlin works too. The Kotlin plugin version comes from the root build
// (android_demo/build.gradle.kts, gradle/libs.versions.toml); :app depends on this module.
plugins {
    alias(libs.plugins.kotlin.jvm)
    `java-library`
}

group = "org.edgetl"
version = "0.1.0"

java {
    // Android consumes Java 8 bytecode without desugaring surprises.
    sourceCompatibility = JavaVersion.VERSION_1_8
    targetCompatibility = JavaVersion.VERSION_1_8
}

kotlin {
    compilerOptions {
        jvmTarget.set(org.jetbrains.kotlin.gradle.dsl.JvmTarget.JVM_1_8)
    }
}

dependencies {
    testImplementation(libs.junit)
}

tasks.test {
    useJUnit()
    // The language-neutral vectors live in the Python tree; both sides must pass them.
    systemProperty("edgetl.vectors", projectDir.resolve("../../tests/vectors/decision.json").absolutePath)
    systemProperty("edgetl.setup_vectors", projectDir.resolve("../../tests/vectors/decision_setup.json").absolutePath)
    inputs.file(projectDir.resolve("../../tests/vectors/decision.json"))
    inputs.file(projectDir.resolve("../../tests/vectors/decision_setup.json"))
}
