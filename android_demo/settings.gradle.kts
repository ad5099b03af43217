// edgetl Android demo: speaks the banknote denomination the phone camera sees.
// Modules: :app (the Android application) and :decision (pure-Kotlin announcement logic,
// shared with the Python runtime through tests/vectors/decision.json).
pluginManagement {
    repositories {
        google {
            content {
                includeGroupByRegex("com\\.android.*")
                includeGroupByRegex("com\\.google.*")
                includeGroupByRegex("androidx.*")
            }
        }
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "edgetl-android"

include(":app")
include(":decision")
