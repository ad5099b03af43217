// Pure Kotlin/JVM library: the decision logic shared by the Android app (android_demo)
// and cross-checked against edgetl/runtime/decide.py through tests/vectors/decision.json.
// No Android dependencies, so it builds and tests on any JVM (`gradle :decision:test`);
// without Gradle, run ./run_tests.sh (plain kotlinc + JUnit4).
//
// The sources are written for Kotlin 1.3 so the Debian kotlinc can compile them; any
// newer Kotlin works too. When the Android root build declares the Kotlin plugin version
// (e.g. `kotlin("jvm") version "…" apply false`), remove the version below.
plugins {
    kotlin("jvm") version "1.9.24"
    `java-library`
}

group = "org.edgetl"
version = "0.1.0"

repositories {
    mavenCentral()
}

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
    testImplementation("junit:junit:4.13.2")
}

tasks.test {
    useJUnit()
    // The language-neutral vectors live in the Python tree; both sides must pass them.
    systemProperty("edgetl.vectors", projectDir.resolve("../../tests/vectors/decision.json").absolutePath)
    inputs.file(projectDir.resolve("../../tests/vectors/decision.json"))
}
