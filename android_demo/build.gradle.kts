// Root build: declares plugin versions once (gradle/libs.versions.toml); modules apply them.
// AGP 9 compiles Kotlin in Android modules itself ("built-in Kotlin"), so :app applies only
// com.android.application; the Kotlin JVM plugin declared here is used by :decision and also
// pins the Kotlin compiler version AGP uses.
plugins {
    alias(libs.plugins.android.application) apply false
    alias(libs.plugins.kotlin.jvm) apply false
}
